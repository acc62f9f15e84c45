# H200 run B: the ablation rows at one equal training budget -- plain GNN k = 20 (full), PaiNN-style
# equivariant GNN k = 20, plain GNN k = 2 -- trained side by side on one GPU from the same data,
# each then rolled out on the 40 test chains (independent noise, the preset's DDIM ladder).
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 10 -s INT 130 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 0 \
  --time 8000tau --equilibrate 200tau --stride 5tau --platform CUDA --no-progress \
  --checkpoint-interval 60 --max-wall 85 -o data/polymer >$R/gen_polymer.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
for v in full equivariant k2; do
  rm -rf runs/abl_$v
  timeout -k 10 -s INT 480 python3 benchmarks/paper_polymer.py --data data/polymer --work runs/abl_$v \
    --split test --device cuda --variants $v --train-steps 6000 --train-time 210 --steps 1000 \
    --replicas 2 --seed 0 --no-speed --output $R/abl_$v.json >$R/abl_$v.log 2>&1 &
done
wait
echo "total $(( $(date +%s) - t0 )) s"
for v in full equivariant k2; do grep -E "training|done in|^$v " $R/abl_$v.log; tail -n 2 runs/abl_$v/models/$v/metrics.csv 2>/dev/null; done
