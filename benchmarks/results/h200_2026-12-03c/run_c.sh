# H200 run C: segment sums over target-sorted edges (--sorted-aggregation) at 1,000 villin replicas
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >$R/install.log 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
python3 -m pip install -q --no-build-isolation --no-deps -e . >$R/build.log 2>&1 || tail -20 $R/build.log
echo "build $(( $(date +%s) - t0 )) s"
S="python3 benchmarks/speed.py --device cuda --tf32 --jit-optimize --budget 2 --sizes 10 --model protein-residue-100ps --skip-explicit --skip-allatom --network-dtype float16"
timeout 100 $S --sorted-aggregation --replicas 1000 --json $R/speed_fp16_fold_sorted.json >$R/speed_fp16_fold_sorted.log 2>&1; tail -14 $R/speed_fp16_fold_sorted.log
echo "total $(( $(date +%s) - t0 )) s"
