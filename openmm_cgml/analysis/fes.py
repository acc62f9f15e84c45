"""TICA projections (deeptime), free-energy surfaces and their JS divergence.

Typical comparison of a CG model with reference MD::

    feats_ref = [distance_features(x, pairs) for x in reference_trajs]   # each [T, P]
    feats_cg = [distance_features(x, pairs) for x in cg_trajs]
    model = fit_tica(feats_ref, lagtime=10, dim=2)                      # fit on the reference
    proj_ref = [model.transform(f) for f in feats_ref]                  # [T, 2]
    proj_cg = [model.transform(f) for f in feats_cg]
    fes = compare_free_energy_surfaces(proj_cg, proj_ref, bins=40)

Free energies are in units of kT unless ``kT`` is given (e.g. 2.494 kJ/mol at 300 K).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from openmm_cgml.analysis._validation import as_trajectory
from openmm_cgml.analysis.metrics import js_divergence

__all__ = [
    "distance_features",
    "select_distance_pairs",
    "fit_tica",
    "free_energy_surface",
    "FESComparison",
    "compare_free_energy_surfaces",
]


def select_distance_pairs(
    num_beads: int, max_pairs: int = 500, min_separation: int = 2, seed: int = 0
) -> np.ndarray:
    """Bead pairs ``[P, 2]`` (``j - i >= min_separation``) used as TICA features.

    All such pairs if there are at most ``max_pairs``, else a seeded random subset.
    """
    i, j = np.triu_indices(num_beads, k=max(1, min_separation))
    pairs = np.stack([i, j], axis=1).astype(np.int64)
    if len(pairs) > max_pairs:
        rng = np.random.default_rng(seed)
        pairs = pairs[np.sort(rng.choice(len(pairs), size=max_pairs, replace=False))]
    if len(pairs) == 0:
        raise ValueError(
            f"no bead pairs with separation >= {min_separation} among {num_beads} beads"
        )
    return pairs


def distance_features(positions: Any, pairs: Any) -> np.ndarray:
    """Inter-bead distances (nm) as features: ``[T, N, 3]`` -> ``[T, P]`` (float64)."""
    x, _ = as_trajectory(positions)
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.linalg.norm(x[:, p[:, 0]] - x[:, p[:, 1]], axis=-1)


def fit_tica(features: Any, lagtime: int, dim: int = 2, scaling: str | None = "kinetic_map"):
    """Fit TICA (deeptime) on a list of feature trajectories ``[T_i, F]`` at ``lagtime`` frames.

    Returns deeptime's ``CovarianceKoopmanModel``; ``model.transform(features [T, F]) -> [T, dim]``.
    Trajectories shorter than ``lagtime + 1`` frames are skipped.
    """
    from deeptime.decomposition import TICA

    if isinstance(features, np.ndarray) and features.ndim == 2:
        features = [features]
    trajs = [np.asarray(f, dtype=np.float64) for f in features]
    trajs = [f for f in trajs if len(f) > lagtime]
    if not trajs:
        raise ValueError(
            f"no feature trajectory is longer than the TICA lag time ({lagtime} frames)"
        )
    return TICA(lagtime=int(lagtime), dim=int(dim), scaling=scaling).fit(trajs).fetch_model()


def free_energy_surface(
    projections: Any,
    bins: int = 40,
    range: tuple[tuple[float, float], tuple[float, float]] | None = None,
    kT: float = 1.0,
    weights: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2D free-energy surface ``F = -kT ln p`` from samples in two coordinates.

    Args:
        projections: ``[T, >=2]`` array or a list of them (the first two columns are used).
        bins: bins per axis; ``range``: ``((x0, x1), (y0, y1))``, default the data span.
        kT: energy unit (1 = units of kT; 2.494 for kJ/mol at 300 K).

    Returns:
        ``(F [bins, bins] shifted so min F = 0, inf where empty; counts [bins, bins];
        x_edges [bins+1]; y_edges [bins+1])``.
    """
    if isinstance(projections, list | tuple):
        data = np.concatenate([np.asarray(p, dtype=np.float64) for p in projections], axis=0)
    else:
        data = np.asarray(projections, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"projections must be [T, >=2]; got {data.shape}")
    counts, xe, ye = np.histogram2d(data[:, 0], data[:, 1], bins=bins, range=range, weights=weights)
    with np.errstate(divide="ignore"):
        f = -kT * np.log(counts / counts.sum())
    f -= f[np.isfinite(f)].min()
    return f, counts, xe, ye


@dataclass
class FESComparison:
    """CG vs reference free-energy surfaces on one common grid (see
    :func:`compare_free_energy_surfaces`). ``js``: JS divergence (base 2) of the 2D histograms;
    ``js_1d``: per-coordinate JS of the marginals; F arrays in units of ``kT``."""

    js: float
    js_1d: list[float]
    fes_cg: np.ndarray
    fes_ref: np.ndarray
    x_edges: np.ndarray
    y_edges: np.ndarray


def compare_free_energy_surfaces(
    cg: Any, reference: Any, bins: int = 40, kT: float = 1.0, pad: float = 0.05
) -> FESComparison:
    """Histogram CG and reference projections (``[T, >=2]`` or lists) on the reference's grid.

    The grid spans the reference data plus ``pad`` of its width on each side; CG samples outside
    it are put in the edge bins (clipped), so drifting away still counts as disagreement.
    """

    def _cat(a: Any) -> np.ndarray:
        if isinstance(a, list | tuple):
            return np.concatenate([np.asarray(p, dtype=np.float64) for p in a], axis=0)
        return np.asarray(a, dtype=np.float64)

    c, r = _cat(cg)[:, :2], _cat(reference)[:, :2]
    if len(c) == 0 or len(r) == 0:
        raise ValueError("empty projections")
    lo, hi = r.min(axis=0), r.max(axis=0)
    w = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - pad * w, hi + pad * w
    c = np.clip(c, lo, hi)
    rng = ((lo[0], hi[0]), (lo[1], hi[1]))
    f_c, n_c, xe, ye = free_energy_surface(c, bins, rng, kT)
    f_r, n_r, _, _ = free_energy_surface(r, bins, rng, kT)
    js = js_divergence(n_c, n_r)
    js1 = [js_divergence(n_c.sum(axis=1 - k), n_r.sum(axis=1 - k)) for k in range(2)]
    return FESComparison(js, js1, f_c, f_r, xe, ye)
