"""Trace the first blow-up of polymer-comb-equivariant on tests/data/polymer, step by step.

The same rollouts as ``run.sh`` (seed 0, 8 replicas per chain), 80 steps, every frame kept and
no replica retired (bond limit x1000). Prints, around the step where ``run.sh`` saw replica 2 of
poly_0011 blow up (step 72), the longest bond and the displacement of its beads, then the
per-step bead displacements of the reference and of the rollout. From the repository root:
``python benchmarks/results/stability_cpu_2026-12-03/trace_blowup.py``.
"""

import numpy as np
import torch

from openmm_cgml.evaluation import load_trajectories, resolve_files, rollout_molecules
from openmm_cgml.models import load_checkpoint
from openmm_cgml.pretrained import model_path

torch.set_num_threads(1)
ref = load_trajectories(resolve_files("tests/data/polymer", split="test"))
model = load_checkpoint(model_path("polymer-comb-equivariant"))
_, res = rollout_molecules(model, ref, n_steps=80, replicas=8, seed=0, record_interval=1,
                           max_bond_factor=1000.0)
name = "poly_0011"
traj, bonds = ref[name], ref[name].bonds


def bond_lengths(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, bonds[:, 0]] - x[:, bonds[:, 1]], axis=-1)


ref_max = max(bond_lengths(run).max() for run in traj.runs)
print(f"{name}: longest reference bond {ref_max:.3f} nm (blow-up limit {2 * ref_max:.3f} nm)")
frames = res[name].frames[2]
lengths = bond_lengths(frames)
for t in range(66, 76):
    j = int(np.argmax(lengths[t]))
    disp = np.linalg.norm(frames[t] - frames[t - 1], axis=-1)
    print(f"step {t}: longest bond {lengths[t, j]:.3f} nm (beads {bonds[j].tolist()}, which moved "
          f"{np.round(disp[bonds[j]], 3).tolist()} nm); largest bead move {disp.max():.3f} nm "
          f"(bead {int(disp.argmax())})")
run = traj.runs[0]
d_ref = np.linalg.norm(run[1:] - run[:-1], axis=-1)  # the model step is one stored frame
d_cg = np.linalg.norm(np.diff(frames, axis=0), axis=-1)
for label, d in (("reference", d_ref), ("rollout", d_cg)):
    print(f"{label}: bead move per model step mean {d.mean():.3f}, "
          f"99.9 % {np.quantile(d, 0.999):.3f}, max {d.max():.3f} nm")
