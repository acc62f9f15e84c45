#!/usr/bin/env bash
# The whole chain on one GPU machine, at the scale one session's GPU time allows:
#   build the plugin -> GPU tests -> reference data (polymer family + peptides, on CUDA)
#   -> training (polymer variants for benchmarks/paper_polymer.py + residue protein model)
#   -> evaluation (paper_polymer table; villin/held-out peptide report) -> speed table.
# Every stage is seeded. Wall-clock budgets (env vars below) end generation (--max-wall:
# frames flushed, checkpoint written) and training (train.max_time_s: the run is re-planned to
# fit, the final checkpoint written) cleanly; `timeout` is only a backstop.
# Dry run on a CPU machine (minutes): see the CPU example at the end of this file.
#
# Usage (repository root, on a machine with CUDA, torch and the wheels in .whl/):
#   RESULTS=/tmp/cgml_results bash benchmarks/gpu_pipeline.sh
# The device image has torch, h5py, scipy, matplotlib, safetensors, pyyaml, tqdm but not: openmm,
# openmm-cuda-13, swig, deeptime, mdtraj, pymetis (cp312 manylinux wheels from PyPI) and pdbfixer
# (sdist only: `pip wheel --no-deps pdbfixer` makes a py3-none-any wheel). The run stops at once,
# naming them, if any is missing.
# Results (logs, JSON, trained checkpoints) go to $RESULTS; with PACK_DIR set they are also
# packed there as <= 15 MB pieces (results.tgz.aa, .ab, ...).
set -u
ROOT="$(pwd)"
R="${RESULTS:-/tmp/cgml_results}"
mkdir -p "$R"
GEN_S="${GEN_S:-390}"          # wall-clock budget (s) for reference data generation (--max-wall)
TRAIN_S="${TRAIN_S:-450}"      # wall-clock budget (s) per training run (train.max_time_s)
POLY_TRAIN_STEPS="${POLY_TRAIN_STEPS:-6000}"
PROT_TRAIN_STEPS="${PROT_TRAIN_STEPS:-6000}"
EVAL_STEPS="${EVAL_STEPS:-4000}"
SEED="${SEED:-0}"
PLATFORM="${PLATFORM:-CUDA}"   # OpenMM platform for the reference MD (CPU for a dry run)
DEVICE="${DEVICE:-cuda}"       # torch device for training/evaluation (cpu for a dry run)
PRESET="${PRESET:-FULL}"       # paper_polymer preset for the polymer models (QUICK for a dry run)
CHAINS="${CHAINS:-200}"
POLY_TIME="${POLY_TIME:-10000tau}"
PEP_TIME="${PEP_TIME:-20ns}"
POLY_EQ="${POLY_EQ:-1000tau}"   # polymer equilibration (before the --max-wall clock matters)
PEP_EQ="${PEP_EQ:-100ps}"       # peptide/protein equilibration
SKIP_GPU_TESTS="${SKIP_GPU_TESTS:-0}"
PROT_SET="${PROT_SET:-}"       # extra --set overrides for the protein model (dry run: smaller)
PAPER_ARGS="${PAPER_ARGS:-}"   # extra benchmarks/paper_polymer.py arguments (dry run: --quick)
SPEED_ARGS="${SPEED_ARGS:-}"   # extra benchmarks/speed.py arguments (dry run: --quick)
PY="${PY:-python3}"
SKIP_BUILD="${SKIP_BUILD:-0}"   # 1: use the openmm_cgml already built in place (dry runs)
PEPTIDES="${PEPTIDES:-1}"       # 0: no peptide training set, no protein training (polymer first)
PROT_EVAL="${PROT_EVAL:-1}"     # 1: held-out references (TEST_SEQS + villin) + a protein report
PROT_MODEL="${PROT_MODEL:-openmm_cgml/pretrained/protein-residue}"  # if none is trained
PROT_EVAL_STEPS="${PROT_EVAL_STEPS:-$EVAL_STEPS}"
EVAL_JOBS="${EVAL_JOBS:-4}"     # paper_polymer variants evaluated at once (processes)
POLY_VARIANTS="${POLY_VARIANTS:-full equivariant k2}"  # polymer models trained side by side
POLY_SET="${POLY_SET:-}"         # extra model settings for them, e.g. "refine_sigma_max=0.3 ..."
EVAL_S="${EVAL_S:-600}"         # backstop (s) for the evaluation stage
# paper_polymer rows (default: every trained variant, and full's ablation rows)
PAPER_VARIANTS="${PAPER_VARIANTS:-$(echo $POLY_VARIANTS | sed 's/full/full no_refinement langevin/' | tr ' ' ',')}"
# POLY_FROM=<checkpoint or shipped model folder>: evaluate these weights as the "full" variant
# instead of training it (e.g. POLY_FROM=openmm_cgml/pretrained/polymer-comb)
POLY_FROM="${POLY_FROM:-}"
KEEP_TRAIN_STATE="${KEEP_TRAIN_STATE:-0}"  # 1: bring back full's optimizer state (to resume)
SPEED="${SPEED:-1}"             # 0: skip the speed tables (speed.py, plugin overhead, reference)
# PEP_AFTER_POLY=1: the peptide/protein reference runs start only after the polymer set is
# done, beside the polymer training (MD processes time-share the GPU: run together they slow
# the polymer set ~10x); the protein model then trains for PROT_TRAIN_S seconds
PEP_AFTER_POLY="${PEP_AFTER_POLY:-0}"
PEP_S="${PEP_S:-$GEN_S}"        # wall budget (s) of the peptide runs with PEP_AFTER_POLY=1
PROT_TRAIN_S="${PROT_TRAIN_S:-$TRAIN_S}"
POLYMER="${POLYMER:-1}"         # 0: no polymer data, training or paper_polymer table
[ "$POLYMER" = 0 ] && POLY_VARIANTS=""
PEP_COPIES="${PEP_COPIES:-1}"   # copies of each peptide/protein side by side in one System
# PROT2_SET="--set ...": a second protein model (e.g. a longer time step) trained beside the
# first on the same data (runs/protein_residue2), evaluated like it
PROT2_SET="${PROT2_SET:-}"
SPEED0_ARGS="${SPEED0_ARGS:-}"  # speed.py arguments for a table of $PROT_MODEL before any data
SPEED_MODEL="${SPEED_MODEL:-}"  # model of the final speed table (default: the protein model)
log() { echo "[$(date +%T)] $*" | tee -a "$R/pipeline.log"; }
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

# ---------------------------------------------------------------- 0. install + build
if [ -d .whl ] && [ "$SKIP_BUILD" = 0 ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl >>"$R/install.log" 2>&1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  export PATH=/tmp/site/bin:$PATH
fi
if [ "$SKIP_BUILD" = 0 ]; then
  log "building the plugin"
  $PY -m pip install -q --no-build-isolation --no-deps -e . >>"$R/install.log" 2>&1 \
    || { log "BUILD FAILED"; tail -30 "$R/install.log"; exit 1; }
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# every runtime dependency must import before the GPU time is spent (2026-12-02: deeptime was
# missing beside the --no-deps wheels and the evaluation stage died after 10 minutes of training)
missing=$($PY - <<'EOF2'
import importlib.util
names = ["numpy", "torch", "openmm", "pdbfixer", "mdtraj", "h5py", "safetensors", "yaml", "tqdm",
         "matplotlib", "scipy", "pymetis", "deeptime"]
print(" ".join(n for n in names if importlib.util.find_spec(n) is None))
EOF2
)
if [ -n "$missing" ]; then
  log "MISSING PYTHON PACKAGES: $missing (add their wheels to .whl/, see ../shared/DESIGN.md)"
  exit 1
fi
$PY -c "import openmm, torch, openmm_cgml; print('openmm', openmm.__version__, 'torch', torch.__version__, [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())])" | tee -a "$R/pipeline.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$R/pipeline.log"

if [ "$SKIP_GPU_TESTS" = 0 ]; then
  log "GPU tests"
  $PY -m pytest -m gpu -q -p no:cacheprovider --durations=10 tests >"$R/gpu_tests.log" 2>&1
  tail -3 "$R/gpu_tests.log" | tee -a "$R/pipeline.log"
fi
if [ -n "$SPEED0_ARGS" ]; then  # the GPU to itself: measured before any data or training
  log "speed table of $PROT_MODEL"
  $PY benchmarks/speed.py --device "$DEVICE" $SPEED0_ARGS --model "$PROT_MODEL" \
    --json "$R/speed0_$DEVICE.json" >"$R/speed0_$DEVICE.log" 2>&1
  tail -25 "$R/speed0_$DEVICE.log" >>"$R/pipeline.log"
fi

# ---------------------------------------------------------------- 1. reference data
log "reference data (cap ${GEN_S}s)"
mkdir -p data/peptides
[ "$POLYMER" = 1 ] && timeout -k 30 -s INT "$((GEN_S + 90))" $PY -m openmm_cgml.cli generate polymer --chains "$CHAINS" --split-seed "$SEED" \
  --seed "$SEED" --time "$POLY_TIME" --equilibrate "$POLY_EQ" --stride 5tau --platform "$PLATFORM" --no-progress \
  --checkpoint-interval 60 --max-wall "$GEN_S" -o data/polymer >"$R/gen_polymer.log" 2>&1 &
POLY_PID=$!
# let the polymer set equilibrate alone: nine all-atom runs time-sharing the GPU slowed it
# ~10x (2026-12-02: no frame within 270 s); peptides start once its production has begun
until [ "$POLYMER" = 0 ] || [ -f data/polymer/splits.json ] || ! kill -0 "$POLY_PID" 2>/dev/null; do
  sleep 2
done
TRAIN_SEQS="${TRAIN_SEQS:-YYDPETGTWY AAAAKAAAAKAAAAKA SWTWENGKWTWK GEWTYDDATKTFTVTE DAYAQWLKDGGPSSGRPPPS GSGSGSGSGSGSGSGS}"
VAL_SEQS="${VAL_SEQS:-NLYIQWLKDGGPSSGRPPPS}"
TEST_SEQS="${TEST_SEQS:-KLVFFAEDVGSNK}"
VILLIN="$($PY -c 'import openmm.app, os; print(os.path.join(os.path.dirname(openmm.app.__file__), "data", "test.pdb"))')"
PEP_PIDS=""
protein_refs() {  # $1: wall budget (s); then sequences (the word villin: openmm's test.pdb)
  local cap="$1" i=0 s out
  shift
  for s in "$@"; do
    if [ "$s" = villin ]; then
      src=(pdb "$VILLIN" --name villin); out=data/peptides/villin.h5
    else
      src=(peptide -s "$s"); out="data/peptides/$s.h5"
    fi
    timeout -k 30 -s INT "$((cap + 90))" $PY -m openmm_cgml.cli generate "${src[@]}" --time "$PEP_TIME" \
      --equilibrate "$PEP_EQ" --stride 2ps --seed $((SEED + i)) --platform "$PLATFORM" --no-progress \
      --copies "$PEP_COPIES" \
      --checkpoint-interval 60 --max-wall "$cap" -o "$out" >"$R/gen_pep_$(basename "$out" .h5).log" 2>&1 &
    PEP_PIDS="$PEP_PIDS $!"
    i=$((i + 1))
  done
}
write_peptide_splits() {
$PY - <<EOF | tee -a "$R/pipeline.log"
import json, pathlib, h5py
d = pathlib.Path("data/peptides")
tr, va, te = "$TRAIN_SEQS".split(), "$VAL_SEQS".split(), "$TEST_SEQS".split() + ["villin"]
def files(n):  # NAME.h5 and its copies NAME_c<j>.h5; a run stopped before its first frame is left out
    out = []
    for f in [d / f"{n}.h5"] + sorted(d.glob(f"{n}_c*.h5"), key=lambda p: int(p.stem.rsplit("_c", 1)[1])):
        if f.is_file():
            with h5py.File(f, "r") as h:
                if h["bead_positions"].shape[0] > 0:
                    out.append(f.name)
    return out
splits = {"train": [f for n in tr for f in files(n)], "val": [f for n in va for f in files(n)],
          "test": [f for n in te for f in files(n)], "seed": $SEED,
          "note": "peptides split by sequence; villin (openmm app/data/test.pdb) held out"}
(d / "splits.json").write_text(json.dumps(splits, indent=1))
for f in sorted(d.glob("*.h5")):
    with h5py.File(f, "r") as h:
        print("peptide data", f.name, h["bead_positions"].shape)
p = pathlib.Path("data/polymer/splits.json")
if p.is_file():
    s = json.loads(p.read_text())
    f0 = pathlib.Path("data/polymer") / s["train"][0]
    with h5py.File(f0, "r") as h:
        print("polymer data", {k: len(s[k]) for k in ("train", "val", "test")}, "frames", h["bead_positions"].shape)
EOF
}
if [ "$PEPTIDES" = 1 ] && [ "$PEP_AFTER_POLY" = 0 ]; then
  log "polymer production started; peptide/protein reference runs start now"
  protein_refs "$GEN_S" $TRAIN_SEQS $VAL_SEQS $TEST_SEQS villin
fi
wait
tail -5 "$R/gen_polymer.log" >>"$R/pipeline.log"
if [ "$PEPTIDES" = 1 ] && [ "$PEP_AFTER_POLY" = 1 ]; then
  :  # below, beside the polymer training
elif [ "$PEPTIDES" = 1 ]; then
  write_peptide_splits
elif [ "$PROT_EVAL" = 1 ]; then
  # held-out references only (no protein training): they run beside the polymer training
  TRAIN_SEQS="" VAL_SEQS=""
  log "held-out protein references (cap ${TRAIN_S}s): $TEST_SEQS villin"
  protein_refs "$TRAIN_S" $TEST_SEQS villin
fi
du -sh data/* | tee -a "$R/pipeline.log"
cp data/polymer/splits.json "$R/polymer_splits.json" 2>/dev/null

# ---------------------------------------------------------------- 2. training
log "training (cap ${TRAIN_S}s): polymer $POLY_VARIANTS$([ "$PEPTIDES" = 1 ] && echo ' + protein residue model')"
TRAIN_PIDS=""
if [ -n "$POLY_FROM" ]; then  # train_variant reuses a loadable runs/paper_polymer/models/full/final
  mkdir -p runs/paper_polymer/models/full
  rm -rf runs/paper_polymer/models/full/final
  cp -r "$POLY_FROM" runs/paper_polymer/models/full/final
  log "polymer full = $POLY_FROM (not trained)"
fi
for v in $POLY_VARIANTS; do
  timeout -k 30 -s INT "$((TRAIN_S + 120))" $PY - "$v" >"$R/train_polymer_$v.log" 2>&1 <<EOF &
import sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
import paper_polymer as p
preset = dict(p.$PRESET)
preset["train"] = {**preset["train"], "max_time_s": $TRAIN_S}
import yaml
extra = dict(kv.split("=", 1) for kv in "$POLY_SET".split())
preset["model"] = {**preset["model"], **{k: yaml.safe_load(v) for k, v in extra.items()}}
p.train_variant(sys.argv[1], Path("data/polymer"), Path("runs/paper_polymer"), preset, $SEED,
                $POLY_TRAIN_STEPS, "$DEVICE")
EOF
  TRAIN_PIDS="$TRAIN_PIDS $!"
done
if [ "$PEPTIDES" = 1 ] && [ "$PEP_AFTER_POLY" = 1 ]; then
  log "peptide/protein reference runs (cap ${PEP_S}s) beside the polymer training"
  protein_refs "$PEP_S" $TRAIN_SEQS $VAL_SEQS $TEST_SEQS villin
  wait $PEP_PIDS
  write_peptide_splits
  log "protein training (cap ${PROT_TRAIN_S}s)"
fi
if [ "$PEPTIDES" = 1 ]; then
  timeout -k 30 -s INT "$((PROT_TRAIN_S + 120))" $PY -m openmm_cgml.cli train examples/configs/protein_residue_gpu.yaml \
    --max-steps "$PROT_TRAIN_STEPS" --seed "$SEED" --no-progress --set train.checkpoint_every=500 \
    --set train.device="$DEVICE" --set train.max_time_s="$PROT_TRAIN_S" $PROT_SET \
    -o runs/protein_residue >"$R/train_protein.log" 2>&1 &
  TRAIN_PIDS="$TRAIN_PIDS $!"
  if [ -n "$PROT2_SET" ]; then
    timeout -k 30 -s INT "$((PROT_TRAIN_S + 120))" $PY -m openmm_cgml.cli train examples/configs/protein_residue_gpu.yaml \
      --max-steps "$PROT_TRAIN_STEPS" --seed "$SEED" --no-progress --set train.checkpoint_every=500 \
      --set train.device="$DEVICE" --set train.max_time_s="$PROT_TRAIN_S" $PROT2_SET \
      -o runs/protein_residue2 >"$R/train_protein2.log" 2>&1 &
    TRAIN_PIDS="$TRAIN_PIDS $!"
  fi
fi
wait $TRAIN_PIDS
for f in "$R"/train_*.log; do echo "== $f"; tail -4 "$f"; done >>"$R/pipeline.log"
mkdir -p "$R/models"
for v in $POLY_VARIANTS; do
  [ -d "runs/paper_polymer/models/$v/final" ] && cp -r "runs/paper_polymer/models/$v/final" "$R/models/polymer_$v"
  # best/ (lowest validation loss) of the shipped variant only: results come back in <= 64 MB
  [ "$v" = full ] && [ -d "runs/paper_polymer/models/$v/best" ] && \
    cp -r "runs/paper_polymer/models/$v/best" "$R/models/polymer_${v}_best"
  cp runs/paper_polymer/models/$v/metrics.csv "$R/models/polymer_$v.metrics.csv" 2>/dev/null
done
[ -d runs/protein_residue/final ] && cp -r runs/protein_residue/final "$R/models/protein_residue"
[ -d runs/protein_residue/best ] && cp -r runs/protein_residue/best "$R/models/protein_residue_best"
[ -d runs/protein_residue2/final ] && cp -r runs/protein_residue2/final "$R/models/protein_residue2"
[ -d runs/protein_residue2/best ] && cp -r runs/protein_residue2/best "$R/models/protein_residue2_best"
cp runs/protein_residue2/metrics.csv "$R/models/protein_residue2.metrics.csv" 2>/dev/null
# optimizer state: not needed to ship or evaluate a model (KEEP_TRAIN_STATE=1: full's stays,
# so that a later session can resume its training)
for f in "$R"/models/*/train_state.pt; do
  [ "$KEEP_TRAIN_STATE" = 1 ] && [ "$f" = "$R/models/polymer_full/train_state.pt" ] && continue
  rm -f "$f"
done
cp runs/protein_residue/metrics.csv "$R/models/protein_residue.metrics.csv" 2>/dev/null
wait  # the held-out protein references (PEPTIDES=0), if any
[ "$PEPTIDES" = 0 ] && [ "$PROT_EVAL" = 1 ] && write_peptide_splits

# ---------------------------------------------------------------- 3. evaluation + speed
log "evaluation (cap ${EVAL_S}s)"
[ "$POLYMER" = 1 ] && timeout -k 30 -s INT "$EVAL_S" $PY benchmarks/paper_polymer.py --data data/polymer --work runs/paper_polymer \
  --device "$DEVICE" $PAPER_ARGS --jobs "$EVAL_JOBS" \
  --variants "$PAPER_VARIANTS" \
  --steps "$EVAL_STEPS" --replicas 2 --seed "$SEED" --output "$R/paper_polymer.json" \
  >"$R/paper_polymer.log" 2>&1 &
PM="runs/protein_residue/final"; [ -d "$PM" ] || PM="$PROT_MODEL"
if [ "$PROT_EVAL" = 1 ] && [ -f data/peptides/splits.json ]; then
  timeout -k 30 -s INT "$EVAL_S" $PY -m openmm_cgml.cli evaluate data/peptides --split test --model "$PM" \
    --steps "$PROT_EVAL_STEPS" --replicas 2 --device "$DEVICE" --seed "$SEED" --no-progress --no-save-rollouts \
    -o "$R/protein_eval" >"$R/protein_eval.log" 2>&1 &
  if [ -d runs/protein_residue2/final ]; then
    timeout -k 30 -s INT "$EVAL_S" $PY -m openmm_cgml.cli evaluate data/peptides --split test \
      --model runs/protein_residue2/final --steps "${PROT2_EVAL_STEPS:-$PROT_EVAL_STEPS}" \
      --replicas 2 --device "$DEVICE" --seed "$SEED" --no-progress --no-save-rollouts \
      -o "$R/protein_eval2" >"$R/protein_eval2.log" 2>&1 &
  fi
fi
wait
mkdir -p "$R/paper_polymer_eval"
for f in runs/paper_polymer/eval/*; do  # reports + plots (not the rollouts)
  [ -d "$f" ] && mkdir -p "$R/paper_polymer_eval/$(basename "$f")" && \
    cp "$f"/*.md "$f"/*.json "$f"/*.png "$R/paper_polymer_eval/$(basename "$f")/" 2>/dev/null
done
cp runs/paper_polymer/parts/*.log "$R/paper_polymer_eval/" 2>/dev/null
tail -12 "$R/paper_polymer.log" | tee -a "$R/pipeline.log"
if [ "$SPEED" = 1 ]; then
log "speed table"
SM="${SPEED_MODEL:-$PM}"
$PY benchmarks/speed.py --device "$DEVICE" $SPEED_ARGS --model "$SM" --budget "${SPEED_BUDGET:-3}" \
  --json "$R/speed_$DEVICE.json" >"$R/speed_$DEVICE.log" 2>&1
tail -25 "$R/speed_$DEVICE.log" >>"$R/pipeline.log"
if [ -n "${SPEED2_ARGS:-}" ]; then  # a second table, e.g. SPEED2_ARGS="--tf32 --skip-allatom"
  $PY benchmarks/speed.py --device "$DEVICE" $SPEED2_ARGS --model "$SM" --budget "${SPEED_BUDGET:-3}" \
    --json "$R/speed_${DEVICE}_2.json" >"$R/speed_${DEVICE}_2.log" 2>&1
  tail -25 "$R/speed_${DEVICE}_2.log" >>"$R/pipeline.log"
fi
if [ "${SPEED_NO_REFINEMENT:-0}" = 1 ]; then  # the same table, one network call per step
  $PY benchmarks/speed.py --device "$DEVICE" $SPEED_ARGS --model "$PM" --budget "${SPEED_BUDGET:-3}" \
    --no-refinement --skip-allatom --json "$R/speed_${DEVICE}_norefine.json" \
    >"$R/speed_${DEVICE}_norefine.log" 2>&1
fi
[ "${PLUGIN_OVERHEAD:-1}" = 1 ] && \
  $PY benchmarks/plugin_overhead.py --json "$R/plugin_overhead.json" >"$R/plugin_overhead.log" 2>&1
if [ "${REFERENCE_SPEED:-1}" = 1 ]; then
  log "reference MD speed"
  $PY benchmarks/reference_speed.py --platforms "$PLATFORM" --explicit \
    --output "$R/reference_speed.json" >"$R/reference_speed.log" 2>&1
fi
fi
if [ -n "${PACK_DIR:-}" ]; then
  # results as <= 15 MB pieces (the device tool brings back at most 8 files of 16 MiB):
  #   cat results.tgz.* | tar xzf -
  mkdir -p "$PACK_DIR"
  tar czf - -C "$(dirname "$R")" "$(basename "$R")" | split -b 15M - "$PACK_DIR/results.tgz."
  ls -la "$PACK_DIR" | tee -a "$R/pipeline.log"
fi
log "done"

# CPU dry run of the whole chain (tiny sizes; checks the plumbing, not the science):
#   PLATFORM=CPU DEVICE=cpu PRESET=QUICK SKIP_BUILD=1 SKIP_GPU_TESTS=1 CHAINS=6 POLY_TIME=100tau \
#   PEP_TIME=20ps POLY_EQ=5tau PEP_EQ=2ps GEN_S=120 TRAIN_S=40 POLY_TRAIN_STEPS=20 PROT_TRAIN_STEPS=20 EVAL_STEPS=10 \
#   TRAIN_SEQS="AAKAA GSGSG" VAL_SEQS=YGGFM TEST_SEQS=KLVFF PAPER_ARGS=--quick SPEED_ARGS=--quick \
#   PROT_SET="--set model.hidden=16 --set model.layers=2 --set model.history_length=3" \
#   RESULTS=/tmp/dry bash benchmarks/gpu_pipeline.sh
