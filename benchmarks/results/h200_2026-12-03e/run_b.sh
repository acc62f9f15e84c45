# H200 run B (right after A, same machine): the four run-A variants rolled out on the 40 test
# chains (2 x 1,000 steps each, the preset's ancestral widened ladder), side by side.
set -u
R=$OUT
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
for v in equivariant k2 equivariant_k2 equivariant_shifted; do
  timeout -k 10 -s INT 480 python3 benchmarks/paper_polymer.py --data data/polymer --work runs/abl_$v \
    --split test --device cuda --variants $v --steps 1000 --replicas 2 --seed 0 --no-speed \
    --output runs/abl_$v/test.json >runs/abl_$v/test.log 2>&1 &
done
wait
echo "eval $(( $(date +%s) - t0 )) s"
for v in equivariant k2 equivariant_k2 equivariant_shifted; do
  d=runs/abl_$v; tail -n 4 $d/test.log
  tar -C $d -czf $R/$v.tgz models/$v/final/config.json models/$v/final/statistics.json \
    models/$v/final/model.safetensors models/$v/metrics.csv test.json test.log
done
ls -la $R
