# H200 run B: folded layer norms (export default) with float16 networks, against unfolded; GPU tests
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >$R/install.log 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
python3 -m pip install -q --no-build-isolation --no-deps -e . >$R/build.log 2>&1 || tail -20 $R/build.log
echo "build $(( $(date +%s) - t0 )) s"
S="python3 benchmarks/speed.py --device cuda --tf32 --jit-optimize --budget 2 --sizes 10 --model protein-residue-100ps --skip-explicit"
timeout 120 $S --network-dtype float16 --replicas 1 1000 --json $R/speed_fp16_fold.json >$R/speed_fp16_fold.log 2>&1; tail -22 $R/speed_fp16_fold.log
timeout 60 $S --skip-allatom --network-dtype float16 --no-fold-norms --replicas 1000 --json $R/speed_fp16_nofold.json >$R/speed_fp16_nofold.log 2>&1; grep "1,000 |" $R/speed_fp16_nofold.log
echo "elapsed $(( $(date +%s) - t0 )) s"
timeout 120 python3 -m pytest -m gpu tests/plugin tests/export tests/simulation -q -p no:cacheprovider >$R/gpu_tests.log 2>&1; tail -8 $R/gpu_tests.log
left=$(( 370 - $(date +%s) + t0 ))
[ $left -gt 20 ] && timeout $left python3 benchmarks/results/h200_2026-12-03c/micro_ops2.py 2>&1 | grep -v -i warn > $R/micro_ops2.txt; cat $R/micro_ops2.txt
echo "total $(( $(date +%s) - t0 )) s"
