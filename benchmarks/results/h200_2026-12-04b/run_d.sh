# H200 run D (for the next device time; not run yet; since 2026-12-05 the model's default sampler
# is another, so the setting below names the earlier one, independent noise + ancestral walk): the sampler setting chosen on the val
# chains (run C: Gaussian not widened, ancestral walk from 0.6 nm over 10 levels) on the
# benchmark's 40 test chains against the long references of ../h200_2026-12-04/, 4 rollouts x
# 2,000 steps per chain, the seeds in SEEDS side by side; comparable row for row with the
# shipped setting's metrics there (same references, steps, replicas and seeds). Two calls fit
# the three seeds: SEEDS="0" then SEEDS="1 2" (the references are regenerated, deterministic,
# when the machine is fresh by benchmarks/polymer_long_references.sh, the command of
# ../h200_2026-12-04/run_a.sh: 132 s; paused rollouts continue on a warm machine). Pool with
# ../h200_2026-12-04/analyse.py after copying the metrics.json files to
# metrics/eq_nw06_s<seed>.json.
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 10 -s INT 300 bash benchmarks/polymer_long_references.sh data/polymer_long >$OUT/gen.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
left=$(( 570 - $(date +%s) + t0 ))
for s in ${SEEDS:-0}; do
  timeout -k 10 -s INT $left python3 -m openmm_cgml.cli evaluate data/polymer_long --split test \
    --model polymer-comb-equivariant --noise-correlation 0 --sampler ancestral \
    --no-widen --refine-sigma-max 0.6 --refine-levels 10 \
    --steps 2000 --replicas 4 --seed $s --device cuda --no-progress --no-save-rollouts \
    --max-wall $(( left - 40 )) -o runs/eq_nw06_s$s >$OUT/eval_eq_nw06_s$s.log 2>&1 &
done
wait
echo "total $(( $(date +%s) - t0 )) s"
for s in ${SEEDS:-0}; do tail -n 2 $OUT/eval_eq_nw06_s$s.log; done
tar -czf $OUT/reports.tgz runs/eq_nw06_s*/metrics.json runs/eq_nw06_s*/report.md 2>/dev/null
ls -la $OUT
