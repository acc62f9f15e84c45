"""Closest non-bonded approach in the reference frames of the 40 test chains
(data/polymer_start, 20 frames each), by composition class (``composition_classes`` of
../h200_2026-12-05/analyse.py). Run from the repository root:

    python benchmarks/results/polymer_cpu_2026-12-05c/closest.py
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


def main() -> None:
    out: dict[str, list[float]] = {}
    for path in sorted((ROOT / "data" / "polymer_start").glob("*.h5")):
        (_, ref), = load_trajectories([path]).items()
        closest = A.closest_nonbonded_distance(np.concatenate(ref.runs), ref.bonds).min()
        cls = composition_classes([path.stem])[0].split()[-1].strip("()")
        out.setdefault(cls, []).append(float(closest))
    for cls, v in sorted(out.items()):
        print(f"{cls:<9} {len(v):2d} chains: closest non-bonded approach min {min(v):.3f} nm, "
              f"median over chains {np.median(v):.3f} nm")


if __name__ == "__main__":
    main()
