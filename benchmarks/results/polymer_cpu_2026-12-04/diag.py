"""Where the unstable rollouts of an evaluation fail: per unstable rollout, the reference and CG
per-step bead displacement (median / 99.9 % / max, nm), the longest bond, and around the failure
either the colliding pair's distance and displacements or the longest bond's history.

    python diag.py OUT   # OUT: a `cgml evaluate tests/data/polymer --split train ...` folder
"""

import glob
import json
import sys

import h5py
import numpy as np

import openmm_cgml.analysis as A
from openmm_cgml.evaluation import load_trajectories, resolve_files

out = sys.argv[1]
ref = load_trajectories(resolve_files("tests/data/polymer", "train"))
for fn in sorted(glob.glob(out + "/rollouts/*.h5")):
    with h5py.File(fn) as f:
        st = json.loads(f.attrs["stability"])
        name = str(f.attrs["name"])
        x = f["bead_positions"][:].astype(np.float64)
    if st["stable"]:
        continue
    r = ref[name]
    b = np.asarray(r.bonds)
    disp = np.linalg.norm(np.diff(x, axis=0), axis=-1)
    rd = np.linalg.norm(np.diff(np.concatenate(r.runs), axis=0), axis=-1)
    bl = np.linalg.norm(x[:, b[:, 0]] - x[:, b[:, 1]], axis=-1)
    rbl = np.concatenate([np.linalg.norm(q[:, b[:, 0]] - q[:, b[:, 1]], axis=-1) for q in r.runs])
    q999 = np.quantile(rd, 0.999)
    c999 = np.quantile(disp, 0.999)
    print(fn.split("/")[-1], st["reason"], "beads", x.shape[1],
          f"| displacement ref {np.median(rd):.2f} / {q999:.2f} / {rd.max():.2f}",
          f"CG {np.median(disp):.2f} / {c999:.2f} / {np.nanmax(disp):.2f}",
          f"| longest bond ref {rbl.max():.2f} CG {np.nanmax(bl):.2f}")
    if st["reason"] == "collision":
        t = st["first_collision_step"]
        i = np.nonzero(A.colliding_beads(x[t : t + 1], 0.1, b)[0])[0]
        print("  pair", i.tolist(), "distance t-3..t+2",
              np.round(np.linalg.norm(x[t - 3 : t + 3, i[0]] - x[t - 3 : t + 3, i[1]], axis=-1), 2),
              "displacements t-2..t+1", np.round(disp[t - 3 : t + 1, i], 2).tolist())
    else:
        t = st["blowup_step"] - 1  # last stored frame before the blow-up
        k = int(np.nanargmax(bl[t]))
        print("  bond", b[k].tolist(), "length t-4..t", np.round(bl[t - 4 : t + 1, k], 2))
