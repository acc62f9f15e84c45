# H200 run A: fit the bond-graph noise correlation of polymer-comb on the train chains, then
# the 40 test chains and 20 val chains with it (full) and without it (independent_noise).
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 10 -s INT 130 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 0 \
  --time 8000tau --equilibrate 200tau --stride 5tau --platform CUDA --no-progress \
  --checkpoint-interval 60 --max-wall 85 -o data/polymer >$R/gen_polymer.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
mkdir -p runs/fit && rm -rf runs/fit/final && cp -r openmm_cgml/pretrained/polymer-comb runs/fit/final
python3 -m openmm_cgml.cli fit-noise runs/fit/final data/polymer --split train --device cuda \
  --write --json $R/fit_noise.json >$R/fit_noise.log 2>&1
cat $R/fit_noise.log; cp runs/fit/final/config.json $R/config_fitted.json
echo "fit $(( $(date +%s) - t0 )) s"
for split in test val; do
  mkdir -p runs/corr_$split/models/full && rm -rf runs/corr_$split/models/full/final
  cp -r runs/fit/final runs/corr_$split/models/full/final
  python3 benchmarks/paper_polymer.py --data data/polymer --work runs/corr_$split --split $split \
    --device cuda --variants full,independent_noise --jobs 2 --steps 1000 --replicas 2 --seed 0 \
    --no-speed --output $R/$split.json >$R/$split.log 2>&1 &
done
wait
echo "total $(( $(date +%s) - t0 )) s"; tail -n 8 $R/test.log $R/val.log
