# CPU checks (2 cores) of the fine-tuned model runs/ft_roll8/models/equivariant_k2/final (from run A),
# the same checks the shipped polymer-comb-equivariant had (../h200_2026-12-03e/README.md).
set -u
M=runs/ft_roll8/models/equivariant_k2/final
export OMP_NUM_THREADS=1
python benchmarks/results/polymer_cpu_2026-12-03/drift.py tests/data/polymer $M >runs/ft_roll8_drift_cpu.txt 2>&1 &
cgml evaluate tests/data/polymer --split test --model $M --steps 10000 --replicas 2 --record-interval 10 \
  --seed 0 --no-progress -o runs/ft_roll8_cpu_long >runs/ft_roll8_cpu_long.log 2>&1
wait
