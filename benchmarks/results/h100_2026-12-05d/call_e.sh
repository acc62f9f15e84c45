# device call 2026-12-05 (fifth session): continue the 10^5-step stability (state in devstate.tgz)
# for SWALL s; beside it, GPUTESTS=1: build the plugin and run every gpu-marked test;
# DET=1: then determinism_check.sh (reference MD on CUDA, --deterministic, 3 short runs)
set -u
t0=$(date +%s)
[ -f devstate.tgz ] && tar -xzf devstate.tgz
python3 -m pip install -q --no-index --no-deps --target /tmp/site $(ls .whl/*.whl .whl_gpu/*.whl 2>/dev/null) >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
echo "setup $(( $(date +%s) - t0 )) s"
SWALL=${SWALL:-560}
( MODELS=eq_corr_post WALL=$SWALL PACK=$OUT/state.tgz bash benchmarks/stability_long.sh \
    > $OUT/stability.log 2>&1 ) &
if [ "${GPUTESTS:-0}" = 1 ]; then
  sleep 40
  t1=$(date +%s)
  python3 -m pip install -q --no-build-isolation --no-deps -e . >$OUT/build.log 2>&1
  echo "build rc $? $(( $(date +%s) - t1 )) s"
  timeout -k 10 -s INT 330 python3 -m pytest -m gpu -p no:cacheprovider -rs --durations=8 \
    tests/plugin/test_plugin_gpu.py tests/simulation/test_rollout_python.py \
    tests/export/test_static_graph.py tests/export/test_export_contract.py \
    tests/evaluation/test_evaluation_benchmark.py >$OUT/gpu_tests.log 2>&1
  echo "tests rc $? $(( $(date +%s) - t1 )) s"; tail -n 15 $OUT/gpu_tests.log
fi
if [ "${DET:-0}" = 1 ]; then
  t2=$(date +%s)
  timeout 200 bash devrun/determinism_check.sh > $OUT/determinism.log 2>&1
  echo "determinism rc $? $(( $(date +%s) - t2 )) s"; cat $OUT/determinism.log
fi
wait
echo "total $(( $(date +%s) - t0 )) s"
tail -n 4 $OUT/stability.log
cp runs/stability_long/eq_corr_post/metrics.json $OUT/stability_metrics.json 2>/dev/null
cp runs/stability_long/eq_corr_post/report.md $OUT/stability_report.md 2>/dev/null
ls -la $OUT
