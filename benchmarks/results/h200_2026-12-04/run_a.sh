# H200 run A: long, independent reference runs of the 40 test chains of the 200-chain set
# (same compositions as the set the shipped polymer models were trained on), 8 copies per chain
# from their own starts, 8,000 tau each after 1,000 tau equilibration (64,000 tau per chain),
# deterministic forces; then the shipped models on them side by side, 4 rollouts x 2,000 model
# steps (10,000 tau each) per chain.
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
if [ ! -e data/polymer_long/summary.json ]; then
  timeout -k 10 -s INT 300 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 \
    --seed 1 --only test --copies 8 --time 8000tau --equilibrate 1000tau --stride 5tau \
    --platform CUDA --deterministic --no-progress --checkpoint-interval 60 --max-wall 280 --summary \
    -o data/polymer_long >$OUT/gen.log 2>&1
fi
echo "gen $(( $(date +%s) - t0 )) s"; tail -n 3 $OUT/gen.log
cp data/polymer_long/summary.json $OUT/
left=$(( 560 - $(date +%s) + t0 ))
E="python3 -m openmm_cgml.cli evaluate data/polymer_long --split test --steps ${STEPS:-2000} --replicas 4
   --seed ${SEED:-0} --device cuda --no-progress --no-save-rollouts"
for job in ${JOBS:-eq plain}; do
  case $job in
    eq) M="--model polymer-comb-equivariant";;
    eq_nowiden) M="--model polymer-comb-equivariant --no-widen";;
    plain) M="--model polymer-comb";;
  esac
  timeout -k 10 -s INT $left $E $M -o runs/$job${SEED:+_s$SEED} >$OUT/eval_$job${SEED:+_s$SEED}.log 2>&1 &
done
wait
echo "total $(( $(date +%s) - t0 )) s"
for job in ${JOBS:-eq plain}; do tail -n 12 $OUT/eval_$job${SEED:+_s$SEED}.log; done
tar -czf $OUT/reports.tgz runs/*/metrics.json runs/*/report.md runs/*/*.png 2>/dev/null
ls -la $OUT
