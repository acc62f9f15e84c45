# device call A: the 10^5-step stability of eq_corr_post (background, paused at WALL and packed)
# during the reference generation only (~150 s), then run E (corr_ana, corr_post on the 40 test chains vs the long references)
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.used --format=csv
t0=$(date +%s)
( MODELS=eq_corr_post WALL=${SWALL:-160} PACK=$OUT/state.tgz bash benchmarks/stability_long.sh > $OUT/stability.log 2>&1 ) &
timeout -k 10 -s INT 300 bash benchmarks/polymer_long_references.sh data/polymer_long >$OUT/gen.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
left=$(( 560 - $(date +%s) + t0 ))
for set in corr_ana corr_post; do
  case $set in
    corr_ana) F="--noise-correlation 0.316 --sampler analytic";;
    corr_post) F="--noise-correlation 0.316 --sampler posterior";;
  esac
  timeout -k 10 -s INT $left python3 -m openmm_cgml.cli evaluate data/polymer_long --split test \
    --model polymer-comb-equivariant $F \
    --steps 2000 --replicas 4 --seed 0 --device cuda --no-progress --no-save-rollouts \
    --max-wall $(( left - 40 )) -o runs/eq_${set}_s0 >$OUT/eval_eq_${set}_s0.log 2>&1 &
done
wait
echo "total $(( $(date +%s) - t0 )) s"
for f in $OUT/eval_*.log $OUT/stability.log; do echo "== $f"; tail -n 3 $f; done
for s in corr_ana corr_post; do cp runs/eq_${s}_s0/metrics.json $OUT/metrics_eq_${s}_s0.json 2>/dev/null; done
tar -czf $OUT/runs.tgz runs/eq_*_s0/report.md runs/eq_*_s0/rollout_state.pt runs/stability_long.*.log 2>/dev/null
ls -la $OUT
