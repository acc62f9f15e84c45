#!/usr/bin/env bash
# Stability over 10^5 model steps (the benchmark's strict figure: a rollout is stable if it
# finishes without a collision or a blow-up) for the shipped polymer models on the 40 test
# chains, in as many calls as the device's time limits need: each call takes about WALL seconds
# in all (starting structures, rollouts, packing): it runs the rollouts for what is left of WALL
# after the set-up, then pauses them (`cgml evaluate --max-wall`; their state stays in
# $WORK/<model>/rollout_state.pt) and packs what the next call needs into $PACK (state files
# and the starting structures, a few MB). Unpack it into the next call's checkout (or carry
# $WORK and data/polymer_start) and run the same command: the rollouts continue to the same
# trajectories as one uninterrupted run. When they finish, each model's report.md and
# metrics.json are written and the stability line is printed.
#
#   WALL=480 PACK=$OUT/state.tgz bash benchmarks/stability_long.sh          # on the GPU
#   STEPS=40 WALL=150 PLATFORM=CPU DEVICE=cpu CHAINS=12 MODELS=eq_nowiden \
#       bash benchmarks/stability_long.sh                                    # CPU dry run
set -u
T0=$(date +%s)
STEPS="${STEPS:-100000}"          # model steps per rollout (10^5: 500,000 tau)
WALL="${WALL:-480}"               # seconds this call may take in all (models run side by side)
WORK="${WORK:-runs/stability_long}"
DATA="${DATA:-data/polymer_start}"
CHAINS="${CHAINS:-200}"           # the 200-chain set of the shipped models: its 40 test chains
PLATFORM="${PLATFORM:-CUDA}"
DEVICE="${DEVICE:-cuda}"
MODELS="${MODELS:-eq eq_ancestral plain}"  # eq: polymer-comb-equivariant as shipped (since
                                  # 2026-12-05 correlated noise + posterior walk); eq_ancestral:
                                  # its earlier default (independent noise, ancestral walk);
                                  # eq_nowiden / eq_nw06: that one not widened / from 0.6 nm;
                                  # eq_corr_ana / eq_corr_post: correlated noise (0.316) with
                                  # the analytic / posterior walk
RECORD="${RECORD:-100}"           # frames kept for the report (every RECORD-th step)
PACK="${PACK:-}"
PY="${PY:-python3}"
EXTRA="${EXTRA:-}"                # more cgml evaluate options, e.g. "--tf32"
# 1: a rollout ends at its first collision (--stop-on-collision): the stability figure is the
# same, the batch shrinks as rollouts collide (faster), and the collision rate covers each
# rollout up to its first collision; 0: every rollout runs on until 10^5 steps or a blow-up
STOP_ON_COLLISION="${STOP_ON_COLLISION:-1}"
[ "$STOP_ON_COLLISION" = 1 ] && EXTRA="--stop-on-collision $EXTRA"
# starting structures: the test chains after 1,000 tau of MD, 100 tau of frames (deterministic)
if [ ! -e "$DATA/splits.json" ] || [ -e "$DATA/polymer_set.chk" ]; then
  $PY -m openmm_cgml.cli generate polymer --chains "$CHAINS" --split-seed 0 --seed 1 --only test \
    --time 100tau --equilibrate 1000tau --stride 5tau --platform "$PLATFORM" --deterministic \
    --no-progress -o "$DATA" || exit 1
fi
mkdir -p "$(dirname "$WORK")"
# the rollouts get what is left of WALL after the set-up, less ~15 s for the packing; with less
# than a minute left they are not started (nothing would be checkpointed)
LEFT=$(( WALL - $(date +%s) + T0 - 15 ))
if [ "$LEFT" -lt 60 ]; then
  echo "only ${LEFT} s of WALL=${WALL} left after the set-up: no rollouts in this call"; MODELS=""
fi
for m in $MODELS; do
  case $m in
    eq) M="--model polymer-comb-equivariant";;
    eq_ancestral) M="--model polymer-comb-equivariant --noise-correlation 0 --sampler ancestral";;
    eq_nowiden) M="--model polymer-comb-equivariant --noise-correlation 0 --sampler ancestral --no-widen";;
    eq_nw06) M="--model polymer-comb-equivariant --noise-correlation 0 --sampler ancestral --no-widen --refine-sigma-max 0.6 --refine-levels 10";;
    eq_corr_ana) M="--model polymer-comb-equivariant --noise-correlation 0.316 --sampler analytic";;
    eq_corr_post) M="--model polymer-comb-equivariant --noise-correlation 0.316 --sampler posterior";;
    plain) M="--model polymer-comb";;
    *) echo "unknown model key $m (eq, eq_ancestral, eq_nowiden, eq_nw06, eq_corr_ana, eq_corr_post, plain)"
       exit 2;;
  esac
  $PY -m openmm_cgml.cli evaluate "$DATA" --split test $M --steps "$STEPS" --replicas 1 \
    --record-interval "$RECORD" --seed 0 --device "$DEVICE" --no-progress --no-save-rollouts \
    --max-wall "$LEFT" --checkpoint-interval 120 $EXTRA -o "$WORK/$m" >"$WORK.$m.log" 2>&1 &
done
wait
for m in $MODELS; do
  # the summary line: stable (no collision, no blow-up), without a blow-up, without a collision
  echo "== $m ($STEPS steps)"; tail -n 2 "$WORK.$m.log"
done
if [ -n "$PACK" ]; then
  tar -czf "$PACK" "$DATA" $(ls "$WORK"/*/rollout_state.pt 2>/dev/null) 2>/dev/null
  ls -la "$PACK"
fi
