# Controls on the same data: the equivariant k = 8 model without the drift term, at batch 32
# (the `eq` recipe of ../polymer_cpu_2026-12-03/) and at batch 8 (the drift4 run's batch).
set -eu
S="--set model.family=equivariant --set model.refine_sampler=ancestral --set model.refine_widen=true
   --set model.refine_sigma_max=0.3 --set model.refine_levels=8 --set model.refine_steps=1 --no-progress"
export OMP_NUM_THREADS=1
cgml train examples/configs/polymer_small_cpu.yaml -o runs/small_eq32 $S >/tmp/train_eq32.log 2>&1 &
cgml train examples/configs/polymer_small_cpu.yaml -o runs/small_eq8 $S --set train.batch_size=8 >/tmp/train_eq8.log 2>&1 &
wait
for v in eq32 eq8; do
  cgml evaluate data/polymer_small --split test --model runs/small_$v/final --steps 1000 --replicas 2 \
    --seed 0 --no-progress -o runs/eval_small_$v >/tmp/eval_$v.log 2>&1 &
done
wait
