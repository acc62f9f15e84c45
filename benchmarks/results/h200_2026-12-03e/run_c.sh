# H200 run C (right after B, same machine): train equivariant_k2_shifted (330 s) and roll it out
# on the 40 test chains; beside it, equivariant_k2 on the 20 val chains, then 10^4-step
# rollouts of equivariant_k2 on the 40 test chains (one each).
set -u
R=$OUT
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
v=equivariant_k2_shifted; rm -rf runs/abl_$v
( timeout -k 10 -s INT 520 python3 - $v <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
import paper_polymer as pp
v = sys.argv[1]
preset = {**pp.FULL, "train": {**pp.FULL["train"], "max_time_s": 330.0}}
pp.seed_everything(0)
pp.train_variant(v, Path("data/polymer"), Path(f"runs/abl_{v}"), preset, 0, 6000, "cuda")
PY
timeout -k 10 -s INT 150 python3 benchmarks/paper_polymer.py --data data/polymer --work runs/abl_$v \
    --split test --device cuda --variants $v --steps 1000 --replicas 2 --seed 0 --no-speed \
    --output runs/abl_$v/test.json ) >runs/abl_$v.log 2>&1 &
w=runs/abl_equivariant_k2
( timeout -k 10 -s INT 150 python3 benchmarks/paper_polymer.py --data data/polymer --work $w \
    --split val --device cuda --variants equivariant_k2 --steps 1000 --replicas 2 --seed 0 --no-speed \
    --output $w/val.json >$w/val.log 2>&1
  timeout -k 10 -s INT 330 python3 benchmarks/paper_polymer.py --data data/polymer --work $w \
    --split test --device cuda --variants equivariant_k2 --steps 10000 --replicas 1 --record-interval 10 \
    --seed 0 --no-speed --output $w/long.json >$w/long.log 2>&1 ) &
wait
echo "total $(( $(date +%s) - t0 )) s"
tail -n 6 runs/abl_equivariant_k2_shifted.log $w/val.log $w/long.log
tar -C runs -czf $R/c.tgz abl_equivariant_k2_shifted.log abl_equivariant_k2_shifted/test.json \
  abl_equivariant_k2_shifted/models/$v/final/config.json abl_equivariant_k2_shifted/models/$v/final/statistics.json \
  abl_equivariant_k2_shifted/models/$v/final/model.safetensors abl_equivariant_k2_shifted/models/$v/metrics.csv \
  abl_equivariant_k2/val.json abl_equivariant_k2/val.log abl_equivariant_k2/long.json abl_equivariant_k2/long.log
ls -la $R
