# H200 run C (fresh machine): the 200-chain set again (same command as run A), then side by side:
# the shipped polymer-comb-equivariant on the 40 test chains (the baseline on these frames), and
# both it and the rollout-score fine-tuning over 8 steps on the 20 val chains.
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 10 -s INT 130 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 0 \
  --time 8000tau --equilibrate 200tau --stride 5tau --platform CUDA --no-progress \
  --checkpoint-interval 60 --max-wall 85 -o data/polymer >$OUT/gen_polymer_c.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
mkdir -p runs/shipped/models/equivariant_k2 && cp -r openmm_cgml/pretrained/polymer-comb-equivariant runs/shipped/models/equivariant_k2/final
for job in "shipped test" "shipped val" "ft_roll8 val"; do
  set -- $job
  timeout -k 10 -s INT 250 python3 benchmarks/paper_polymer.py --data data/polymer --work runs/$1 --split $2 \
    --device cuda --variants equivariant_k2 --steps 1000 --replicas 2 --seed 0 --no-speed \
    --output $OUT/c_${2}_$1.json >$OUT/c_${2}_$1.log 2>&1 &
done
wait
echo "total $(( $(date +%s) - t0 )) s"
