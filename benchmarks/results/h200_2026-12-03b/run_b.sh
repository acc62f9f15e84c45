# H200 run B: 16,000 tau polymer references; polymer-comb inference settings chosen on val, reported on test
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >$R/install.log 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 20 -s INT 280 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 0 \
  --time 16000tau --equilibrate 200tau --stride 5tau --platform CUDA --no-progress \
  --checkpoint-interval 60 --max-wall 200 -o data/polymer >$R/gen_polymer.log 2>&1
tail -3 $R/gen_polymer.log; echo "gen $(( $(date +%s) - t0 )) s"
( python3 -m pip install -q --no-build-isolation --no-deps -e . >$R/build.log 2>&1 && \
  timeout 150 python3 -m pytest -m gpu tests/plugin/test_plugin_gpu.py tests/export/test_static_graph.py -q -p no:cacheprovider >$R/gpu_tests.log 2>&1 ) &
V=full,ancestral_widen,ancestral_widen_0.3
for split in val test; do
  mkdir -p runs/pp_$split/models/full && cp -r openmm_cgml/pretrained/polymer-comb runs/pp_$split/models/full/final
  timeout -k 10 $(( 585 - $(date +%s) + t0 )) python3 benchmarks/paper_polymer.py --data data/polymer --work runs/pp_$split \
    --split $split --device cuda --jobs 3 --variants $V --steps 1500 --replicas 2 --seed 0 --no-speed \
    --output $R/pp_$split.json >$R/pp_$split.log 2>&1 &
done
wait
tail -4 $R/gpu_tests.log; tail -8 $R/pp_val.log $R/pp_test.log; echo "total $(( $(date +%s) - t0 )) s"
tar czf $R/pp_reports.tgz runs/pp_*/parts runs/pp_*/eval*/*/report.md runs/pp_*/eval*/*/metrics.json data/polymer/splits.json $R/gen_polymer.log $R/install.log 2>/dev/null; rm -f $R/install.log
ls -la $R
