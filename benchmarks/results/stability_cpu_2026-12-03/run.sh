# Where do the blow-ups of polymer-comb-equivariant come from? The shipped weights on the two test
# chains of tests/data/polymer, 8 rollouts x 3,000 steps each, with four samplers (2 CPU cores,
# two evaluations at a time, one thread each).
set -u
export OMP_NUM_THREADS=1
E="cgml evaluate tests/data/polymer --split test --model polymer-comb-equivariant --steps 3000 --replicas 8
   --record-interval 10 --seed 0 --no-progress --no-save-rollouts"
$E -o runs/stab_shipped >runs/stab_shipped.log 2>&1 &
$E --no-widen -o runs/stab_nowiden >runs/stab_nowiden.log 2>&1 &
wait
$E --refine-sigma-max 0.15 -o runs/stab_sigma015 >runs/stab_sigma015.log 2>&1 &
$E --no-refinement -o runs/stab_norefine >runs/stab_norefine.log 2>&1 &
wait
