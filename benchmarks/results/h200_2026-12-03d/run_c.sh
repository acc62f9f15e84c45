# H200 run C: 10^4-step rollouts (5 x 10^4 tau) of the shipped polymer-comb on the 40 test chains,
# one rollout each: stability (no collision, no blow-up) and Rg over the long run.
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 10 -s INT 100 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 0 \
  --time 8000tau --equilibrate 200tau --stride 5tau --platform CUDA --no-progress \
  --checkpoint-interval 30 --max-wall 50 -o data/polymer >$R/gen_polymer.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
mkdir -p runs/long/models/full && rm -rf runs/long/models/full/final
cp -r openmm_cgml/pretrained/polymer-comb runs/long/models/full/final
timeout -k 10 -s INT 440 python3 benchmarks/paper_polymer.py --data data/polymer --work runs/long --split test \
  --device cuda --variants full --steps 10000 --replicas 1 --record-interval 10 --seed 0 --no-speed \
  --output $R/long_test.json >$R/long_test.log 2>&1
echo "total $(( $(date +%s) - t0 )) s"; tail -n 7 $R/long_test.log
