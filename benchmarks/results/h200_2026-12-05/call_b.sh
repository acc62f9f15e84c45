# device calls after 2026-12-05: continue the 10^5-step stability of eq_corr_post (state in
# runs/stability_long, carried; see README), pause at WALL (default 560 s), pack the state again
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
ls -la runs/stability_long/*/ 2>&1 | head
MODELS=eq_corr_post WALL=${SWALL:-560} PACK=$OUT/state.tgz bash benchmarks/stability_long.sh > $OUT/stability.log 2>&1
tail -n 5 $OUT/stability.log
cp runs/stability_long/eq_corr_post/metrics.json runs/stability_long/eq_corr_post/report.md $OUT/ 2>/dev/null
cp runs/stability_long.eq_corr_post.log $OUT/ 2>/dev/null
ls -la $OUT
