"""Teacher-forced residual correlation of the shipped polymer-comb-equivariant by bead pair:
bonded graph distance 1-3, and non-bonded pairs (graph distance >= 4) whose mean distance over
the reference frames is below 1.2 nm ("near") or not ("far"), against the correlation the
bond-graph noise with lambda0 0.316228 gives the same pairs. Residuals as ``cgml fit-noise``
(``openmm_cgml.evaluation.noise_fit.teacher_forced_residuals``, 64 windows per file, seed 0;
the 20 frames of data/polymer_start give 18 windows per chain).

    python pairs.py FOLDER_OF_H5 [FOLDER ...]     # e.g. the 8 globules, the other 32 chains
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import shortest_path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from openmm_cgml.evaluation.data import load_trajectories  # noqa: E402
from openmm_cgml.evaluation.noise_fit import teacher_forced_residuals  # noqa: E402
from openmm_cgml.models import load_checkpoint  # noqa: E402
from openmm_cgml.models.noise import bond_laplacian, correlation_factor  # noqa: E402

NEAR_NM = 1.2


def pair_classes(x: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """Class per upper-triangle pair: '1'/'2'/'3' (graph distance), 'near', 'far'."""
    n = x.shape[1]
    adj = -bond_laplacian(bonds, n)
    np.fill_diagonal(adj, 0)
    gd = shortest_path(adj, unweighted=True)
    d = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1).mean(0)
    iu = np.triu_indices(n, 1)
    return np.where(gd[iu] <= 3, gd[iu].astype(int).astype(str),
                    np.where(d[iu] < NEAR_NM, "near", "far"))


def main(folders: list[str]) -> None:
    model = load_checkpoint(ROOT / "openmm_cgml" / "pretrained" / "polymer-comb-equivariant")
    for folder in folders:
        files = sorted(Path(folder).glob("*.h5"))
        acc: dict[str, tuple[list, list]] = {}
        residuals = teacher_forced_residuals(model, files, seed=0)
        for path, (z, bonds) in zip(files, residuals, strict=True):
            (_, ref), = load_trajectories([path]).items()
            n = z.shape[1]
            k = correlation_factor(bonds, n, 0.316228)
            emp = np.corrcoef(z.transpose(0, 2, 1).reshape(-1, n).T)
            iu = np.triu_indices(n, 1)
            cls = pair_classes(max(ref.runs, key=len), bonds)
            for c in np.unique(cls):
                a = acc.setdefault(str(c), ([], []))
                a[0].append(emp[iu][cls == c])
                a[1].append((k @ k.T)[iu][cls == c])
        for c, (e, m) in sorted(acc.items()):
            e, m = np.concatenate(e), np.concatenate(m)
            print(f"{Path(folder).name:<10} {c:<5} pairs {len(e):6d}: residual correlation "
                  f"{e.mean():+.3f}, bond-graph noise {m.mean():+.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
