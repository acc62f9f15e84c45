# device calls after 2026-12-05c, from the repository root, carrying .whl and data/polymer_start
# (and runs/stability_long while its rollouts are unfinished): continue the 10^5-step stability
# of the shipped polymer-comb-equivariant (model key eq_corr_post, paused state in
# runs/stability_long) for SWALL seconds (0: skip) and, beside it, seeds 1 and 2 of the same
# model on the 40 test chains (SEEDS="1 2"; 4 rollouts x 2,000 steps from data/polymer_start;
# the CG figures do not depend on the reference, analyse.py scores them against the long
# reference sets A and B), whose rollouts get RWALL seconds and then write their reports
# (~120 s). Their paused states are too large to bring back (~0.4 GB): on a warm machine the
# same command continues them. Their rollouts stay on the device; what must last (logs, metrics,
# the near-miss tails of ../polymer_cpu_2026-12-05d/tails.py) is packed into $OUT/results.tgz,
# beside $OUT/state.tgz and $OUT/stability.log (few files: the device returns at most 8).
set -u
t0=$(date +%s)
# the upload limit (64 MiB) is too tight for the raw folders: carry them packed as devstate.tgz
# (tar -czf devstate.tgz data/polymer_start runs/stability_long; git-ignored) with .whl
[ -f devstate.tgz ] && tar -xzf devstate.tgz
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
SWALL=${SWALL:-560} RWALL=${RWALL:-300} SEEDS=${SEEDS:-}
# LAMBDA: run the seeds with --noise-correlation LAMBDA instead of the shipped 0.316228
LAMBDA=${LAMBDA:-}; TAG=eq${LAMBDA:+_l$LAMBDA}
if [ "$SWALL" -gt 0 ]; then
  ( MODELS=eq_corr_post WALL=$SWALL PACK=$OUT/state.tgz bash benchmarks/stability_long.sh \
      > $OUT/stability.log 2>&1 ) &
fi
for s in $SEEDS; do
  python3 -m openmm_cgml.cli evaluate data/polymer_start --split test \
    --model polymer-comb-equivariant --steps 2000 --replicas 4 --seed $s --device cuda \
    --no-progress --max-wall $RWALL ${LAMBDA:+--noise-correlation $LAMBDA} \
    -o runs/${TAG}_s$s >$OUT/eval_${TAG}_s$s.log 2>&1 &
done
wait
echo "total $(( $(date +%s) - t0 )) s"
tail -n 3 $OUT/stability.log 2>/dev/null
mkdir -p /tmp/res
cp runs/stability_long/eq_corr_post/metrics.json /tmp/res/stability_metrics.json 2>/dev/null
cp runs/stability_long/eq_corr_post/report.md /tmp/res/stability_report.md 2>/dev/null
TAILS=""
for s in $SEEDS; do
  tail -n 2 $OUT/eval_${TAG}_s$s.log
  mv $OUT/eval_${TAG}_s$s.log /tmp/res/
  cp runs/${TAG}_s$s/metrics.json /tmp/res/metrics_${TAG}_s$s.json 2>/dev/null
  [ -f runs/${TAG}_s$s/metrics.json ] && TAILS="$TAILS ${TAG}_s$s=runs/${TAG}_s$s/rollouts"
done
[ -n "$TAILS" ] && python3 benchmarks/results/polymer_cpu_2026-12-05d/tails.py $TAILS \
  > /tmp/res/tails_${TAG}.txt 2>&1 && cat /tmp/res/tails_${TAG}.txt
tar -czf $OUT/results.tgz -C /tmp res
ls -la $OUT
