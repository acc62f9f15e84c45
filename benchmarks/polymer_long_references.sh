#!/usr/bin/env bash
# The long, independent references of the polymer benchmark's 40 test chains: the test chains of
# the 200-chain set the shipped polymer models were trained on (`--chains 200 --split-seed 0`),
# 8 copies each from their own starts, 8,000 tau per copy after 1,000 tau of equilibration
# (64,000 tau per chain), deterministic forces. Every comparison with these references
# (`cgml evaluate data/polymer_long --split test ...`) uses this one definition (~130 s on an
# H200). On the GPU a fresh generation is not the same frames but a statistically equivalent
# set (three H200 generations differed; two agree at r^2 tau 0.85, results/h200_2026-12-05/),
# so compare runs of different sessions through the references each metrics.json holds, or
# pool the sets (results/h200_2026-12-05/analyse.py). Nothing is done when
# the set is complete; an interrupted set (MAX_WALL) is continued by running this again.
#
#   bash benchmarks/polymer_long_references.sh [OUT]      # OUT defaults to data/polymer_long
#   (env: PLATFORM=CUDA, MAX_WALL=280 seconds, PY=python3)
set -u
OUT_DIR="${1:-data/polymer_long}"
if [ -e "$OUT_DIR/summary.json" ] && [ ! -e "$OUT_DIR/polymer_set.chk" ]; then
  echo "$OUT_DIR: complete"; exit 0
fi
exec "${PY:-python3}" -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 1 \
  --only test --copies 8 --time 8000tau --equilibrate 1000tau --stride 5tau \
  --platform "${PLATFORM:-CUDA}" --deterministic --no-progress --checkpoint-interval 60 \
  --max-wall "${MAX_WALL:-280}" --summary -o "$OUT_DIR"
