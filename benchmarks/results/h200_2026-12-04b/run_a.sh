# H200 run A (2026-12-04b): build the plugin and run every gpu-marked test; long test references
# (same command as h200_2026-12-04, deterministic) generated meanwhile; then the polymer speed-up
# of both shipped polymer models against the reference MD, timed alone (paper_polymer.py: the CG
# step as a replayed CUDA graph).
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
(python3 -m pip install -q --no-build-isolation --no-deps -e . >$OUT/build.log 2>&1; echo "build rc $? $(( $(date +%s) - t0 )) s" >>$OUT/build.log) &
B=$!
if [ ! -e data/polymer_long/summary.json ]; then
  timeout -k 10 -s INT 300 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 \
    --seed 1 --only test --copies 8 --time 8000tau --equilibrate 1000tau --stride 5tau \
    --platform CUDA --deterministic --no-progress --checkpoint-interval 60 --max-wall 280 --summary \
    -o data/polymer_long >$OUT/gen.log 2>&1
fi
echo "gen $(( $(date +%s) - t0 )) s"; tail -n 2 $OUT/gen.log
wait $B; tail -n 2 $OUT/build.log
timeout -k 10 -s INT 270 python3 -m pytest -q -m gpu tests -p no:cacheprovider -rs >$OUT/gpu_tests.log 2>&1
echo "tests $(( $(date +%s) - t0 )) s"; tail -n 8 $OUT/gpu_tests.log
for v in full:polymer-comb equivariant_k2:polymer-comb-equivariant; do
  mkdir -p runs/shipped/models/${v%%:*}; rm -rf runs/shipped/models/${v%%:*}/final
  cp -r openmm_cgml/pretrained/${v#*:} runs/shipped/models/${v%%:*}/final
done
left=$(( 575 - $(date +%s) + t0 ))
timeout -k 10 -s INT $left python3 benchmarks/paper_polymer.py --data data/polymer_long --work runs/shipped \
  --split test --device cuda --variants full,equivariant_k2 --steps 20 --replicas 1 --seed 0 \
  --output $OUT/speed.json >$OUT/speed.log 2>&1
echo "speed rc $? $(( $(date +%s) - t0 )) s"; tail -n 8 $OUT/speed.log
ls -la $OUT
