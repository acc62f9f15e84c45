# The same fine-tuning as run.sh with the rollout score over 8 model steps (weight 1).
set -eu
S="--init-from runs/small_eq8/final --max-steps 1000 --set train.schedule=constant --set train.lr=2e-4
   --set train.warmup_steps=50 --set train.batch_size=8 --no-progress"
export OMP_NUM_THREADS=2
cgml train runs/small_eq8/config.yaml -o runs/small_ft_roll8 $S \
  --set model.rollout_horizon=8 --set model.rollout_weight=1.0 >/tmp/train_ft_roll8.log 2>&1
cgml evaluate data/polymer_small --split test --model runs/small_ft_roll8/final --steps 1000 --replicas 2 \
  --seed 0 --no-progress -o runs/eval_small_ft_roll8 >/tmp/eval_ft_roll8.log 2>&1
python benchmarks/results/polymer_cpu_2026-12-03/drift.py data/polymer_small runs/small_ft_roll8/final >/tmp/drift_ft_roll8.txt 2>&1
