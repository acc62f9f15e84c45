# H200 run A (2026-12-03, third session): float16 / bfloat16 networks vs float32 (TF32):
# speed of protein-residue-100ps at its shipped 10 levels, and the runs' statistics side by side
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >$R/install.log 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
python3 -m pip install -q --no-build-isolation --no-deps -e . >$R/build.log 2>&1 || tail -20 $R/build.log
echo "build $(( $(date +%s) - t0 )) s"; nvidia-smi -L
S="python3 benchmarks/speed.py --device cuda --tf32 --jit-optimize --budget 2 --sizes 10 --model protein-residue-100ps --skip-explicit"
timeout 150 $S --network-dtype float16 --replicas 1 1000 3000 --json $R/speed_fp16.json >$R/speed_fp16.log 2>&1; tail -22 $R/speed_fp16.log
timeout 60 $S --skip-allatom --network-dtype bfloat16 --replicas 1000 --json $R/speed_bf16.json >$R/speed_bf16.log 2>&1; tail -5 $R/speed_bf16.log
timeout 60 $S --skip-allatom --replicas 1000 --json $R/speed_fp32.json >$R/speed_fp32.log 2>&1; tail -5 $R/speed_fp32.log
echo "elapsed $(( $(date +%s) - t0 )) s"
timeout $(( 570 - $(date +%s) + t0 )) python3 benchmarks/precision.py --device cuda --tf32 --model protein-residue-100ps \
  --replicas 100 --time 100ns --out /tmp/prec --json $R/precision.json >$R/precision.log 2>&1; tail -8 $R/precision.log
mkdir -p $R/precision; for d in /tmp/prec/*; do cp $d/summary.txt $R/precision/$(basename $d).summary.txt; done
echo "total $(( $(date +%s) - t0 )) s"
