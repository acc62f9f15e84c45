# H200 run A: train the equivariant (PaiNN-style) GNN at k = 20, the plain GNN at k = 2, the
# equivariant GNN at k = 2 and the equivariant GNN with shifted-history input noise side by side
# on one GPU (same data, seed 0, 6,000 steps or 400 s each, whichever comes first); the final
# weights come back as one tar per variant, the four training logs as train.log.
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 10 -s INT 130 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 0 \
  --time 8000tau --equilibrate 200tau --stride 5tau --platform CUDA --no-progress \
  --checkpoint-interval 60 --max-wall 85 -o data/polymer >$R/gen_polymer.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
for v in equivariant k2 equivariant_k2 equivariant_shifted; do
  rm -rf runs/abl_$v
  timeout -k 10 -s INT 470 python3 - $v >/tmp/train_$v.log 2>&1 <<'PY' &
import sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
import paper_polymer as pp
v = sys.argv[1]
preset = {**pp.FULL, "train": {**pp.FULL["train"], "max_time_s": 400.0}}
pp.seed_everything(0)
pp.train_variant(v, Path("data/polymer"), Path(f"runs/abl_{v}"), preset, 0, 6000, "cuda")
PY
done
wait
echo "train $(( $(date +%s) - t0 )) s"
for v in equivariant k2 equivariant_k2 equivariant_shifted; do
  (echo "== $v"; cat /tmp/train_$v.log) >>$R/train.log
  tail -n 3 /tmp/train_$v.log; tail -n 1 runs/abl_$v/models/$v/metrics.csv
  tar -C runs/abl_$v/models/$v -cf $R/final_$v.tar final metrics.csv
done
ls -la $R
