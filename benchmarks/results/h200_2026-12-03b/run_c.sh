# H200 run C (short): the 40 test chains, shipped polymer setting vs widened from 0.3 nm
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 10 -s INT 130 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 0 \
  --time 8000tau --equilibrate 200tau --stride 5tau --platform CUDA --no-progress \
  --checkpoint-interval 60 --max-wall 85 -o data/polymer >$R/gen_polymer.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
for v in full ancestral_widen_0.3; do
  mkdir -p runs/c_$v/models/full && cp -r openmm_cgml/pretrained/polymer-comb runs/c_$v/models/full/final
  python3 benchmarks/paper_polymer.py --data data/polymer --work runs/c_$v --split test --device cuda \
    --variants $v --steps 1000 --replicas 2 --seed 0 --no-speed --output $R/test_$v.json >$R/test_$v.log 2>&1 &
done
wait
echo "total $(( $(date +%s) - t0 )) s"; tail -6 $R/test_*.log
