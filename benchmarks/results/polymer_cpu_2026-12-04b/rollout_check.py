"""Rollouts with a sampler, read from a (paused or finished) `cgml evaluate` rollout state,
against the reference runs and the per-molecule results of an earlier evaluation.

    python rollout_check.py STATE.pt REF_DIR [EARLIER_METRICS.json]

Per molecule (pooled over its rollouts and the steps recorded so far): mean Rg (nm), the mean
squared displacement of a bead per model step (nm^2: how far the dynamics moves in one step;
the reference's frames are one model step apart when the model step equals their spacing),
the closest non-bonded approach (1 % quantile, nm) and the close-contact fraction (frames
closer than the reference's closest approach). Units nm.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from openmm_cgml import analysis as A
from openmm_cgml.evaluation.data import load_trajectories

state = torch.load(sys.argv[1], weights_only=False)
ident = json.loads(state["identity"]) if isinstance(state["identity"], str) else state["identity"]
refs = load_trajectories(sorted(Path(sys.argv[2]).glob("*.h5")))
earlier = json.loads(Path(sys.argv[3]).read_text())["systems"] if len(sys.argv) > 3 else {}
names, sizes = ident["molecules"], ident["sizes"]
per_mol = len(ident["seeds"]) // len(names)
dt = float(state["timestep_ps"])
print(f"{state['done']} of {ident['n_steps']} steps, export overrides "
      f"{ident['export_overrides']}, model step {dt:.2f} ps")
print(f"{'molecule':<10}{'Rg ref':>8}{'Rg CG':>8}{'Rg earlier':>11}{'msd ref':>9}{'msd CG':>8}"
      f"{'q01 ref':>9}{'q01 CG':>8}{'close':>8}{'collided':>9}")
rows = []
for i, name in enumerate(names):
    ref = refs[name]
    frames = [state["frames"][i * per_mol + r].double().numpy() for r in range(per_mol)]
    ratio = int(round(dt / ref.dt_ps))
    rg_ref = np.concatenate([A.radius_of_gyration(x, ref.masses) for x in ref.runs]).mean()
    rg_cg = np.concatenate([A.radius_of_gyration(x, ref.masses) for x in frames]).mean()
    msd_ref = np.mean([((x[ratio:] - x[:-ratio]) ** 2).sum(-1).mean() for x in ref.runs])
    msd_cg = np.mean([((x[1:] - x[:-1]) ** 2).sum(-1).mean() for x in frames])
    c_ref = np.concatenate([A.closest_nonbonded_distance(x, ref.bonds) for x in ref.runs])
    c_cg = np.concatenate([A.closest_nonbonded_distance(x, ref.bonds) for x in frames])
    close = float(np.mean(c_cg < c_ref.min()))
    hit = sum(A.collision_rate(x, 0.1, ref.bonds) > 0 for x in frames)
    e = earlier.get(name, {}).get("cg", {}).get("rg_mean_nm")
    rows.append((rg_ref, rg_cg, e, msd_ref, msd_cg, close))
    print(f"{name:<10}{rg_ref:8.3f}{rg_cg:8.3f}{(e or float('nan')):11.3f}{msd_ref:9.3f}"
          f"{msd_cg:8.3f}{np.quantile(c_ref, 0.01):9.3f}{np.quantile(c_cg, 0.01):8.3f}"
          f"{close:8.4f}{hit:>6d}/{per_mol}")
r = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
print(f"r2 Rg (these steps) {A.r2_score(r[:, 1], r[:, 0]):.3f}; earlier run "
      f"{A.r2_score(r[:, 2], r[:, 0]) if np.isfinite(r[:, 2]).all() else float('nan'):.3f}; "
      f"median Rg CG/ref {np.median(r[:, 1] / r[:, 0]):.3f} (earlier "
      f"{np.median(r[:, 2] / r[:, 0]):.3f}); median msd CG/ref {np.median(r[:, 4] / r[:, 3]):.3f};"
      f" mean close-contact fraction {r[:, 5].mean():.4f}")
