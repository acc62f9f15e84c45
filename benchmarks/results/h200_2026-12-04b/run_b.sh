# H200 run B: build the plugin, then every gpu-marked test (the five files that hold them;
# mdtraj, pymetis and pdbfixer wheels carried: the villin tests build their system with them).
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
python3 -m pip install -q --no-build-isolation --no-deps -e . >$OUT/build.log 2>&1; echo "build rc $? $(( $(date +%s) - t0 )) s"
timeout -k 10 -s INT 400 python3 -m pytest -m gpu -p no:cacheprovider -rs --durations=8 \
  tests/plugin/test_plugin_gpu.py tests/simulation/test_rollout_python.py tests/export/test_static_graph.py \
  tests/export/test_export_contract.py tests/evaluation/test_evaluation_benchmark.py >$OUT/gpu_tests.log 2>&1
echo "tests rc $? $(( $(date +%s) - t0 )) s"; tail -n 25 $OUT/gpu_tests.log
