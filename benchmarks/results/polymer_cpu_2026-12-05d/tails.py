"""The tails behind the stability figure: how often CG rollouts come near a blow-up (a bond
stretched towards 2x the longest reference bond) or near a collision (a non-bonded pair closer
than the reference ever comes), per setting and composition class. Counting these near misses
resolves settings that the few actual blow-ups and collisions cannot. Run from the repository
root, one rollouts folder (``cgml evaluate ... -o OUT``: ``OUT/rollouts``) per setting:

    python benchmarks/results/polymer_cpu_2026-12-05d/tails.py NAME=OUT/rollouts ...

Distances in nm. Per setting and class: bead-steps are (frame, bond) pairs for bonds and frames
for pairs; the first frame (the reference start) is left out.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "results" / "h200_2026-12-05"))
from analyse import composition_classes  # noqa: E402

from openmm_cgml import analysis as A  # noqa: E402
from openmm_cgml.evaluation.data import load_trajectories  # noqa: E402

BOND_NM = (1.5, 2.0)  # longest bond in the 40 reference starts 1.47 nm; blow-up > 2x a chain's
PAIR_NM = (0.3, 0.2)  # closest non-bonded approach in the reference: 0.385 nm; collision < 0.1


def chain_tails(runs: list[np.ndarray], bonds: np.ndarray) -> dict[str, np.ndarray]:
    """Bond lengths ``[F*B]`` and each frame's closest non-bonded distance ``[F]`` (nm) over
    the runs (frames ``[T, N, 3]`` each, first frame dropped)."""
    x = np.concatenate([r[1:] for r in runs])
    return {"bond": A.bond_lengths(x, bonds).ravel(),
            "closest": A.closest_nonbonded_distance(x, bonds)}


def main(args: list[str]) -> None:
    head = (f"{'setting':<14} {'class':<9} {'bond-steps':>10} {'p99.9 nm':>8} {'max nm':>7} "
            + " ".join(f"{'>' + str(b) + ' nm':>9}" for b in BOND_NM) + f" {'frames':>8} "
            + " ".join(f"{'<' + str(p) + ' nm':>9}" for p in PAIR_NM) + f" {'min nm':>7}")
    print(head)
    for arg in args:
        name, folder = arg.split("=", 1)
        trajs = load_trajectories(sorted(Path(folder).glob("*.h5")))
        pooled: dict[str, dict[str, list[np.ndarray]]] = {}
        for mol, t in sorted(trajs.items()):
            cls = composition_classes([mol])[0].split()[-1].strip("()")
            tails = chain_tails(t.runs, np.asarray(t.bonds))
            for key in ("all", cls):
                for k, v in tails.items():
                    pooled.setdefault(key, {}).setdefault(k, []).append(v)
        for cls in ["all"] + sorted(k for k in pooled if k != "all"):
            b = np.concatenate(pooled[cls]["bond"])
            c = np.concatenate(pooled[cls]["closest"])
            print(f"{name:<14} {cls:<9} {len(b):>10d} {np.quantile(b, 0.999):>8.3f} "
                  f"{b.max():>7.3f} "
                  + " ".join(f"{(b > t).mean():>9.1e}" for t in BOND_NM)
                  + f" {len(c):>8d} " + " ".join(f"{(c < t).mean():>9.1e}" for t in PAIR_NM)
                  + f" {c.min():>7.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
