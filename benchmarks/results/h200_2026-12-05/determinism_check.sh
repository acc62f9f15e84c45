# For a device call (not run yet, ~2 min): is `cgml generate polymer --deterministic` on CUDA
# reproducible for a small set, and does the checkpoint interval (which sets where frames are
# flushed and checkpoints written: wall-clock dependent) matter? The three H200 generations of
# data/polymer_long differed; on CPU two runs with --checkpoint-interval 0.01 and 1000 are
# bit-identical (checked 2026-12-05). Prints the largest bead-position difference per pair.
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1
for run in "a 1000" "b 1000" "c 0.01"; do
  set -- $run
  python3 -m openmm_cgml.cli generate polymer --chains 200 --split-seed 0 --seed 1 --only test \
    --copies 8 --time 200tau --equilibrate 100tau --stride 5tau --platform CUDA --deterministic \
    --no-progress --checkpoint-interval $2 -o /tmp/det_$1 | tail -n 1
done
python3 - <<'PY'
import glob
import numpy as np
from openmm_cgml.reference.storage import TrajectoryFile
for other in ("b", "c"):
    worst = 0.0
    for f in sorted(glob.glob("/tmp/det_a/*.h5")):
        with TrajectoryFile(f) as x, TrajectoryFile(f.replace("det_a", f"det_{other}")) as y:
            worst = max(worst, float(np.abs(np.asarray(x.bead_positions[:])
                                            - np.asarray(y.bead_positions[:])).max()))
    print(f"a vs {other}: largest bead-position difference {worst:.3g} nm")
PY
