# Small-scale CPU test of the rollout score (2 cores, one training per core).
# Data and starting model: data/polymer_small and runs/small_eq8 of ../polymer_cpu_2026-12-03b/
# (equivariant, k = 8, 4,000 steps). Both rows fine-tune that model for 1,000 more steps
# (constant lr 2e-4 after 50 warm-up steps), batch 8: one without and one with the rollout score.
set -eu
S="--init-from runs/small_eq8/final --max-steps 1000 --set train.schedule=constant --set train.lr=2e-4
   --set train.warmup_steps=50 --set train.batch_size=8 --no-progress"
export OMP_NUM_THREADS=1
cgml train runs/small_eq8/config.yaml -o runs/small_ft_plain $S >/tmp/train_ft_plain.log 2>&1 &
cgml train runs/small_eq8/config.yaml -o runs/small_ft_roll4 $S \
  --set model.rollout_horizon=4 --set model.rollout_weight=1.0 >/tmp/train_ft_roll4.log 2>&1 &
wait
for v in ft_plain ft_roll4; do
  cgml evaluate data/polymer_small --split test --model runs/small_$v/final --steps 1000 --replicas 2 \
    --seed 0 --no-progress -o runs/eval_small_$v >/tmp/eval_$v.log 2>&1 &
done
wait
for v in ft_plain ft_roll4; do
  python benchmarks/results/polymer_cpu_2026-12-03/drift.py data/polymer_small runs/small_$v/final >/tmp/drift_$v.txt 2>&1
done
