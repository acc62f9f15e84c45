"""Closest non-bonded approach in the reference frames of the 40 test chains
(data/polymer_start, 20 frames each), by composition class (f_S1 of
../h200_2026-12-04/summary.json). Run from the repository root:

    python benchmarks/results/polymer_cpu_2026-12-05c/closest.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from openmm_cgml.evaluation.data import load_trajectories  # noqa: E402


def main() -> None:
    f_s1 = json.loads((ROOT / "benchmarks/results/h200_2026-12-04/summary.json").read_text())
    out: dict[str, list[float]] = {}
    for path in sorted((ROOT / "data" / "polymer_start").glob("*.h5")):
        (_, ref), = load_trajectories([path]).items()
        x = np.concatenate(ref.runs)
        n, b = x.shape[1], np.asarray(ref.bonds)
        mask = ~np.eye(n, dtype=bool)
        mask[b[:, 0], b[:, 1]] = mask[b[:, 1], b[:, 0]] = False
        closest = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1)[:, mask].min()
        f = f_s1["chains"][path.name]["f_S1"]
        cls = "coils" if f < 0.2 else "globules" if f > 0.6 else "blocky"
        out.setdefault(cls, []).append(float(closest))
    for cls, v in sorted(out.items()):
        print(f"{cls:<9} {len(v):2d} chains: closest non-bonded approach min {min(v):.3f} nm, "
              f"median over chains {np.median(v):.3f} nm")


if __name__ == "__main__":
    main()
