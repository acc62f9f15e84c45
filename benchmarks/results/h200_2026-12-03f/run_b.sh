# H200 run B (right after A, same warm machine): the interrupted fine-tunings take their interrupt
# checkpoint (written on SIGINT) as final; each model, the shipped one included, rolled out on
# the 40 test chains, 2 x 1,000 steps, five evaluations side by side. The shipped model's JSON did
# not come back (over the 8-file limit) and the machine had gone when it was asked for again.
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
ls runs/ft_*/models/equivariant_k2/checkpoints/ runs/ft_*/models/equivariant_k2/
for v in plain roll2 roll8; do
  m=runs/ft_$v/models/equivariant_k2; c=$(ls -d $m/checkpoints/step_* 2>/dev/null | sort | tail -1)
  [ -n "$c" ] && [ ! -e $m/final ] && cp -r $c $m/final
done
for w in shipped ft_plain ft_roll2 ft_roll4 ft_roll8; do
  [ -e runs/$w/models/equivariant_k2/final/config.json ] || continue
  timeout -k 10 -s INT 520 python3 benchmarks/paper_polymer.py --data data/polymer --work runs/$w --split test \
    --device cuda --variants equivariant_k2 --steps 1000 --replicas 2 --seed 0 --no-speed \
    --output runs/$w/test.json >runs/$w/test.log 2>&1 &
done
wait
for w in shipped ft_plain ft_roll2 ft_roll4 ft_roll8; do
  echo "== $w"; tail -n 4 runs/$w/test.log; cp runs/$w/test.json $OUT/test_$w.json 2>/dev/null
done
tar -czf $OUT/metrics.tgz runs/ft_*/models/equivariant_k2/metrics.csv
for v in plain roll2 roll8; do
  m=runs/ft_$v/models/equivariant_k2
  tar -C $m -czf $OUT/ft_$v.tgz final/config.json final/statistics.json final/model.safetensors 2>/dev/null
done
