# Where do the blow-ups of polymer-comb-equivariant come from? The shipped weights on the two test
# chains of tests/data/polymer, 8 rollouts x 3,000 steps each (2 CPU cores, one thread per
# evaluation). A blow-up is a bond longer than --max-bond-factor (default 2) x the longest
# reference bond, or non-finite positions.
set -u
export OMP_NUM_THREADS=1
E="cgml evaluate tests/data/polymer --split test --model polymer-comb-equivariant --steps 3000 --replicas 8
   --record-interval 10 --seed 0 --no-progress --no-save-rollouts"
$E -o runs/stab_shipped >runs/stab_shipped.log 2>&1 &          # the shipped sampler
$E --no-widen -o runs/stab_nowiden >runs/stab_nowiden.log 2>&1 &  # Gaussian not widened
wait
$E --max-bond-factor 4 -o runs/stab_bond4 >runs/stab_bond4.log 2>&1 &      # do they come back?
$E --no-refinement -o runs/stab_norefine >runs/stab_norefine.log 2>&1 &    # Gaussian step only
wait
# then the card's 10^4-step check, with the Gaussian not widened
cgml evaluate tests/data/polymer --split test --model polymer-comb-equivariant --steps 10000 --replicas 2 \
  --record-interval 10 --seed 0 --no-progress --no-widen -o runs/stab_nowiden_long >runs/stab_nowiden_long.log 2>&1
