# H200 run C: choose the refinement ladder on the 20 val chains (never trained on, not the
# benchmark's test chains): the 200-chain set regenerated as the shipped models were trained
# on it, then polymer-comb-equivariant with four sampler settings side by side, 4 rollouts x
# STEPS (default 1,500; 1,000 in the run recorded here) model steps per val chain.
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
if [ ! -e data/polymer/splits.json ]; then
  timeout -k 10 -s INT 130 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 0 \
    --time 8000tau --equilibrate 200tau --stride 5tau --platform CUDA --no-progress \
    --checkpoint-interval 60 --max-wall 85 -o data/polymer >$OUT/gen_polymer.log 2>&1
fi
echo "gen $(( $(date +%s) - t0 )) s"; tail -n 1 $OUT/gen_polymer.log
left=$(( 560 - $(date +%s) + t0 ))
for v in "shipped:" "nw:--no-widen" "nw06:--no-widen --refine-sigma-max 0.6 --refine-levels 10" \
         "nw10:--no-widen --refine-sigma-max 1.0 --refine-levels 12"; do
  k=${v%%:*}
  timeout -k 10 -s INT $left python3 -m openmm_cgml.cli evaluate data/polymer --split val \
    --model polymer-comb-equivariant ${v#*:} --steps ${STEPS:-1500} --replicas 4 --seed 0 --device cuda \
    --no-progress --no-save-rollouts -o runs/val_$k >$OUT/val_$k.log 2>&1 &
done
wait
echo "eval $(( $(date +%s) - t0 )) s"
for k in shipped nw nw06 nw10; do echo "== $k"; tail -n 2 $OUT/val_$k.log | head -1; done
tar -czf $OUT/val_metrics.tgz runs/val_*/metrics.json runs/val_*/report.md
