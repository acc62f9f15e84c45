"""CG rollouts of `cgml evaluate` against the reference runs, per molecule, with what
`metrics.json` does not hold: how far a bead moves per model step.

    python rollout_check.py RUN REF_DIR [RUN ...] [EARLIER_METRICS.json]

RUN: a `cgml evaluate -o` folder with the rollout files `rollouts/<name>.rep<r>.h5`, or the
rollout state of a paused (or stopped) run, `rollout_state.pt` (a file, or a folder holding
one and no rollout files). EARLIER_METRICS.json: the `metrics.json` of an earlier evaluation,
whose mean Rg per molecule is shown beside (column "Rg earlier").

Per molecule (pooled over its rollouts and the steps recorded so far): mean Rg (nm), the mean
squared displacement of a bead per model step (nm^2; the reference's frames are one model
step apart when the model step equals their spacing), the closest non-bonded approach (1 %
quantile, nm), the close-contact fraction (frames closer than the reference's closest
approach) and the rollouts with a collision (< 0.1 nm). The last line of each run pools the
molecules: r^2 of mean Rg, median ratios, mean close-contact fraction. Units nm.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from openmm_cgml import analysis as A
from openmm_cgml.evaluation.data import load_trajectories


def cg_runs(run: Path) -> tuple[dict[str, list[np.ndarray]], float | None]:
    """CG frames [T, N, 3] nm per molecule (from the first model step on) and the model step
    (ps; None for rollout files, whose frames are one model step apart)."""
    files = sorted(run.glob("rollouts/*.rep*.h5")) if run.is_dir() else []
    if files:
        return {n: t.runs for n, t in load_trajectories(files).items()}, None
    state = torch.load(run / "rollout_state.pt" if run.is_dir() else run, weights_only=False)
    ident = state["identity"]
    ident = json.loads(ident) if isinstance(ident, str) else ident
    names = ident["molecules"]
    per = len(ident["seeds"]) // len(names)
    done = int(state["done"])
    print(f"{run}: {done} of {ident['n_steps']} steps, export overrides "
          f"{ident['export_overrides']}")
    runs = {n: [state["frames"][i * per + r].double().numpy()[1:] for r in range(per)]
            for i, n in enumerate(names)}
    return runs, float(state["timestep_ps"])


def check(run: Path, refs: dict, earlier: dict) -> None:
    runs, dt = cg_runs(run)
    print(f"== {run}")
    print(f"{'molecule':<10}{'Rg ref':>8}{'Rg CG':>8}{'Rg earlier':>11}{'msd ref':>9}"
          f"{'msd CG':>8}{'q01 ref':>9}{'q01 CG':>8}{'close':>8}{'collided':>9}")
    rows = []
    for name, frames in sorted(runs.items()):
        ref = refs[name]
        ratio = 1 if dt is None else int(round(dt / ref.dt_ps))
        rg_ref = np.concatenate([A.radius_of_gyration(x, ref.masses) for x in ref.runs]).mean()
        rg_cg = np.concatenate([A.radius_of_gyration(x, ref.masses) for x in frames]).mean()
        msd_ref = np.mean([((x[ratio:] - x[:-ratio]) ** 2).sum(-1).mean() for x in ref.runs])
        msd_cg = np.mean([((x[1:] - x[:-1]) ** 2).sum(-1).mean() for x in frames])
        c_ref = np.concatenate([A.closest_nonbonded_distance(x, ref.bonds) for x in ref.runs])
        c_cg = np.concatenate([A.closest_nonbonded_distance(x, ref.bonds) for x in frames])
        close = float(np.mean(c_cg < c_ref.min()))
        hit = sum(A.collision_rate(x, 0.1, ref.bonds) > 0 for x in frames)
        e = earlier.get(name, {}).get("cg", {}).get("rg_mean_nm")
        rows.append((rg_ref, rg_cg, np.nan if e is None else e, msd_ref, msd_cg, close, hit,
                     len(frames)))
        print(f"{name:<10}{rg_ref:8.3f}{rg_cg:8.3f}{rows[-1][2]:11.3f}{msd_ref:9.3f}"
              f"{msd_cg:8.3f}{np.quantile(c_ref, 0.01):9.3f}{np.quantile(c_cg, 0.01):8.3f}"
              f"{close:8.4f}{hit:>6d}/{len(frames)}")
    r = np.array(rows, dtype=float)
    line = (f"r2 Rg {A.r2_score(r[:, 1], r[:, 0]):.3f}; median Rg CG/ref "
            f"{np.median(r[:, 1] / r[:, 0]):.3f}; median msd CG/ref "
            f"{np.median(r[:, 4] / r[:, 3]):.3f}; mean close-contact fraction "
            f"{r[:, 5].mean():.4f}; rollouts with a collision {int(r[:, 6].sum())} of "
            f"{int(r[:, 7].sum())}")
    if np.isfinite(r[:, 2]).all():
        line += (f"; earlier run r2 Rg {A.r2_score(r[:, 2], r[:, 0]):.3f}, median Rg ratio "
                 f"{np.median(r[:, 2] / r[:, 0]):.3f}")
    print(line)


def main() -> None:
    args = [Path(a) for a in sys.argv[1:]]
    if len(args) < 2:
        sys.exit(__doc__)
    ref_dir, runs = args[1], [args[0]] + [a for a in args[2:] if a.suffix != ".json"]
    metrics = [a for a in args[2:] if a.suffix == ".json"]
    earlier = json.loads(metrics[0].read_text())["systems"] if metrics else {}
    refs = load_trajectories(sorted(ref_dir.glob("*.h5")))
    for run in runs:
        check(run, refs, earlier)


if __name__ == "__main__":
    main()
