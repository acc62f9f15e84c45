# H200 run D: build the plugin and run the GPU tests of the shipped models as CUDA graphs
# (villin with protein-residue, independent and correlated noise; a comb chain with polymer-comb).
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH
python3 -m pip install -q --no-build-isolation --no-deps -e . >$OUT/build.log 2>&1; tail -3 $OUT/build.log
python3 -m pytest -q -m gpu tests/plugin/test_plugin_gpu.py -k "shipped" -p no:cacheprovider 2>&1 | tail -5 | tee $OUT/gpu_tests.log
