# Small-scale CPU test of the multi-step drift term (2 cores, one training per core).
# Data: cgml generate polymer --chains 24 --split-seed 1 --seed 1 --min-length 12 --max-length 30 \
#   --time 1500tau --equilibrate 50tau --stride 5tau --platform CPU -o data/polymer_small
# Same model and sampler as the `eq` row of ../polymer_cpu_2026-12-03/ (equivariant, k = 8,
# 4,000 steps, one thread); 32 one-step sub-windows per optimizer step in every run.
set -eu
S="--set model.family=equivariant --set model.refine_sampler=ancestral --set model.refine_widen=true
   --set model.refine_sigma_max=0.3 --set model.refine_levels=8 --set model.refine_steps=1 --no-progress"
export OMP_NUM_THREADS=1
cgml train examples/configs/polymer_small_cpu.yaml -o runs/small_drift4 $S \
  --set model.drift_horizon=4 --set model.drift_weight=1.0 --set train.batch_size=8 >/tmp/train_drift4.log 2>&1 &
cgml train examples/configs/polymer_small_cpu.yaml -o runs/small_drift8 $S \
  --set model.drift_horizon=8 --set model.drift_weight=1.0 --set train.batch_size=4 >/tmp/train_drift8.log 2>&1 &
wait
for v in drift4 drift8; do
  cgml evaluate data/polymer_small --split test --model runs/small_$v/final --steps 1000 --replicas 2 \
    --seed 0 --no-progress -o runs/eval_small_$v >/tmp/eval_$v.log 2>&1 &
done
wait
