# Accuracy and stability of the shipped sampler vs --no-widen for polymer-comb-equivariant on all
# 24 chains of data/polymer_small (the small CPU set of ../polymer_cpu_2026-12-03b/: comb chains of
# 12-30 beads, 1,500 tau references; not the chains the model was trained on), 2 x 1,000 steps.
set -u
export OMP_NUM_THREADS=1
E="cgml evaluate data/polymer_small --model polymer-comb-equivariant --steps 1000 --replicas 2 --seed 0
   --no-progress --no-save-rollouts"
$E -o runs/small24_widen >runs/small24_widen.log 2>&1 &
$E --no-widen -o runs/small24_nowiden >runs/small24_nowiden.log 2>&1 &
wait
