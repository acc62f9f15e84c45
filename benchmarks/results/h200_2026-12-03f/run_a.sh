# H200 run A: the 200-chain polymer set, then four fine-tunings of the shipped
# polymer-comb-equivariant side by side on one GPU (same data, seed 0, 380 s each, constant lr
# 2e-4 after 50 warm-up steps, batch 128): without the rollout score (control), and with it over
# 2, 4 and 8 model steps (weight 1). Weights come back as one tar per variant.
set -u
R=$OUT
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 MPLBACKEND=Agg
t0=$(date +%s)
timeout -k 10 -s INT 130 python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 0 \
  --time 8000tau --equilibrate 200tau --stride 5tau --platform CUDA --no-progress \
  --checkpoint-interval 60 --max-wall 85 -o data/polymer >$R/gen_polymer.log 2>&1
echo "gen $(( $(date +%s) - t0 )) s"
SHIP=openmm_cgml/pretrained/polymer-comb-equivariant
mkdir -p runs/shipped/models/equivariant_k2 && cp -r $SHIP runs/shipped/models/equivariant_k2/final
for v in plain roll2 roll4 roll8; do
  case $v in plain) X="";; *) X="--set model.rollout_horizon=${v#roll} --set model.rollout_weight=1.0";; esac
  rm -rf runs/ft_$v
  timeout -k 10 -s INT 440 python3 -m openmm_cgml.cli train examples/configs/polymer_full_gpu_equivariant.yaml \
    -o runs/ft_$v/models/equivariant_k2 --init-from $SHIP --seed 0 --max-steps 6000 --no-progress \
    --set train.schedule=constant --set train.lr=2e-4 --set train.warmup_steps=50 \
    --set train.max_time_s=380 --set train.val_every=500 --set train.checkpoint_every=500 $X \
    >/tmp/train_$v.log 2>&1 &
done
wait
echo "train $(( $(date +%s) - t0 )) s"
for v in plain roll2 roll4 roll8; do
  (echo "== $v"; cat /tmp/train_$v.log) >>$R/train.log
  tail -n 2 /tmp/train_$v.log | cut -c1-400
  m=runs/ft_$v/models/equivariant_k2
  tar -C $m -czf $R/ft_$v.tgz final/config.json final/statistics.json final/model.safetensors metrics.csv
done
ls -la $R
