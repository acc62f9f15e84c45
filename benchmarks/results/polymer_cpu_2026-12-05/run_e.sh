# H200 run E (ran on 2026-12-05 as ../h200_2026-12-05/call_a.sh, with the stability run beside
# it; results there): the two samplers this CPU study
# proposes (bond-graph correlated noise, lambda0 = 0.316, with the `posterior` or the
# `analytic` walk, widened as shipped) on the benchmark's 40 test chains against the long
# references of ../h200_2026-12-04/, 4 rollouts x 2,000 steps per chain, seed 0; comparable
# row for row with the shipped setting's metrics there (same references, steps, replicas and
# seed) and with run D of ../h200_2026-12-04b/ (nw06). One call: the references are
# regenerated, deterministic, by benchmarks/polymer_long_references.sh when the machine is
# fresh (~130 s); the two settings run side by side. Pool with ../h200_2026-12-04/analyse.py
# after copying the metrics.json files to metrics/eq_<setting>_s0.json.
#
#   SETTINGS="corr_ana corr_post" SEEDS=0 bash benchmarks/results/polymer_cpu_2026-12-05/run_e.sh
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 10 -s INT 300 bash benchmarks/polymer_long_references.sh data/polymer_long >$OUT/gen.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
left=$(( 570 - $(date +%s) + t0 ))
for set in ${SETTINGS:-corr_ana corr_post}; do
  case $set in
    corr_ana) F="--noise-correlation 0.316 --sampler analytic";;
    corr_post) F="--noise-correlation 0.316 --sampler posterior";;
    ana) F="--sampler analytic";;
    *) echo "unknown setting $set"; exit 2;;
  esac
  for s in ${SEEDS:-0}; do
    timeout -k 10 -s INT $left python3 -m openmm_cgml.cli evaluate data/polymer_long --split test \
      --model polymer-comb-equivariant $F \
      --steps 2000 --replicas 4 --seed $s --device cuda --no-progress --no-save-rollouts \
      --max-wall $(( left - 40 )) -o runs/eq_${set}_s$s >$OUT/eval_eq_${set}_s$s.log 2>&1 &
  done
done
wait
echo "total $(( $(date +%s) - t0 )) s"
for f in $OUT/eval_*.log; do echo "== $f"; tail -n 2 $f; done
tar -czf $OUT/reports.tgz runs/eq_*_s*/metrics.json runs/eq_*_s*/report.md 2>/dev/null
ls -la $OUT
