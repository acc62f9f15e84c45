"""What a near blow-up looks like: every stored frame in which a CG bond is longer than LIMIT
(2.0 nm; the reference's longest bond in the 40 starts is 1.47 nm, a blow-up is > 2x a chain's
own longest), with that bond one frame before and after, and how far its faster-moving bead
stepped into and out of that frame. Needs rollouts stored at every model step
(``--record-interval 1``, the default). Run from the repository root:

    python benchmarks/results/polymer_cpu_2026-12-05d/spikes.py NAME=OUT/rollouts ... [--list]

Distances in nm.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from openmm_cgml import analysis as A  # noqa: E402
from openmm_cgml.evaluation.data import load_trajectories  # noqa: E402

LIMIT_NM = 2.0
BACK_NM = 1.5  # "back" when the bond is shorter than this one frame later


def events(x: np.ndarray, bonds: np.ndarray) -> list[tuple[float, ...]]:
    """(before, at, after, bead step in, bead step out, median bead step in) per frame and
    bond over LIMIT_NM, for one run ``[T, N, 3]`` (interior frames only)."""
    b = A.bond_lengths(x, bonds)  # [T, B]
    step = np.linalg.norm(np.diff(x, axis=0), axis=-1)  # [T-1, N]
    out = []
    for t, i in zip(*np.nonzero(b[1:-1] > LIMIT_NM), strict=True):
        t += 1
        p, q = bonds[i]
        m = p if step[t - 1, p] > step[t - 1, q] else q
        out.append((b[t - 1, i], b[t, i], b[t + 1, i], step[t - 1, m], step[t, m],
                    float(np.median(step[t - 1]))))
    return out


def main(args: list[str]) -> None:
    listing = "--list" in args
    for arg in (a for a in args if a != "--list"):
        name, folder = arg.split("=", 1)
        trajs = load_trajectories(sorted(Path(folder).glob("*.h5")))
        ev, frames = [], 0
        for mol, t in sorted(trajs.items()):
            for r in t.runs:
                frames += len(r)
                for e in events(r, np.asarray(t.bonds)):
                    ev.append(e)
                    if listing:
                        print(f"  {name} {mol}: bond {e[0]:.2f} -> {e[1]:.2f} -> {e[2]:.2f} nm; "
                              f"bead step {e[3]:.2f} in, {e[4]:.2f} out (median {e[5]:.2f})")
        if not ev:
            print(f"{name}: no bond over {LIMIT_NM} nm in {frames} frames")
            continue
        a = np.array(ev)
        back = np.mean(a[:, 2] < BACK_NM)
        print(f"{name}: {len(a)} bond-frames over {LIMIT_NM} nm in {frames} frames; median bond "
              f"before / at / after {np.median(a[:, 0]):.2f} / {np.median(a[:, 1]):.2f} / "
              f"{np.median(a[:, 2]):.2f} nm; back under {BACK_NM} nm one frame later: "
              f"{back:.0%}; the faster bead's step in / out {np.median(a[:, 3]):.2f} / "
              f"{np.median(a[:, 4]):.2f} nm (median bead step {np.median(a[:, 5]):.2f})")


if __name__ == "__main__":
    main(sys.argv[1:])
