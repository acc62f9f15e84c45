"""Bond-graph correlated noise for the sampled acceleration.

A diagonal Gaussian moves every bead independently. At the polymer benchmark's 5 tau step the
real next-frame residuals of bonded beads are correlated (0.57 over the 140 training chains,
``cgml fit-noise``), and the slowest modes of a chain carry 2-3x the variance that
independent noise gives them. The radius of gyration relaxes through those slow modes.

Measured (``benchmarks/results/h200_2026-12-03d/``, on the plain k = 20 ``polymer-comb``
shipped then): with the fitted correlation, one step from true histories gives the slow
modes the reference's variance (98 % instead of 71 % on the 12 chains of
``tests/data/polymer``). Over rollouts, though, the chains
swell and r^2 of mean Rg drops (40 test chains: 0.825 -> 0.702). So it is off by default
(``ModelConfig.noise_correlation = 0``): the restoring drift of the slow modes is too weak as
well, and more noise alone does not help.

The correlated noise keeps each bead's marginal variance (the model's ``std``) and correlates
beads through the modes of their CG bond graph. With ``L`` the graph Laplacian of one
molecule's bonds (eigenpairs ``lambda_m, v_m``) and ``lambda0 > 0``::

    K = sum_m (1 + lambda_m / lambda0) ** -1/2  v_m v_m^T      (symmetric, [n, n])
    K_ij <- K_ij / sqrt(sum_j K_ij^2)                           (rows normalised)
    eps_corr = K @ eps                                           (eps standard normal)

so ``eps_corr`` has unit variance per bead and correlation matrix ``C = K K^T``: modes with
``lambda << lambda0`` (collective motion) keep more variance than modes with
``lambda >> lambda0`` (bond stretching). ``lambda0 -> inf`` gives back independent noise.
``lambda0`` is a dimensionless eigenvalue scale, fitted by maximum likelihood on training
residuals (:func:`openmm_cgml.training.noise_fit.fit_noise_correlation`).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["bond_laplacian", "correlation_factor", "correlation_entries"]


def bond_laplacian(bonds: np.ndarray, n: int) -> np.ndarray:
    """Graph Laplacian ``[n, n]`` of ``bonds`` ``[B, 2]`` (bead indices 0..n-1; unweighted,
    duplicates and self-bonds ignored)."""
    b = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    if b.size and (b.min() < 0 or b.max() >= n):
        raise ValueError(f"bond indices must lie in [0, {n}); got {b.min()}..{b.max()}")
    adj = np.zeros((n, n))
    b = b[b[:, 0] != b[:, 1]]
    adj[b[:, 0], b[:, 1]] = 1.0
    adj[b[:, 1], b[:, 0]] = 1.0
    return np.diag(adj.sum(1)) - adj


def correlation_factor(bonds: np.ndarray, n: int, lambda0: float) -> np.ndarray:
    """Row-normalised factor ``K`` ``[n, n]`` of the bond-graph noise correlation (see the
    module docstring); identity for ``lambda0 <= 0`` or ``inf`` (independent noise)."""
    if not (lambda0 > 0 and np.isfinite(lambda0)) or n == 0:
        return np.eye(n)
    w, v = np.linalg.eigh(bond_laplacian(bonds, n))
    w = np.clip(w, 0.0, None)
    k = (v * (1.0 + w / float(lambda0)) ** -0.5) @ v.T
    return k / np.sqrt((k * k).sum(1, keepdims=True))


def correlation_entries(cg_bonds: torch.Tensor, batch: torch.Tensor, lambda0: float,
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``K`` of every molecule of a batch as sparse entries ``(rows, cols, weights)``.

    ``cg_bonds`` int64 ``[2, E]`` and ``batch`` int64 ``[N]`` (sorted molecule index per bead)
    as in a step module. ``eps_corr = zeros.index_add_(0, rows, weights[:, None] *
    eps[cols])``. Molecules with the same bonds share one eigendecomposition.
    """
    b = batch.detach().cpu().numpy().astype(np.int64)
    bonds = cg_bonds.detach().cpu().numpy().astype(np.int64).reshape(2, -1).T
    n = len(b)
    if n and np.any(np.diff(b) < 0):
        raise ValueError("batch must be sorted (molecules stored contiguously)")
    starts = np.concatenate([[0], np.flatnonzero(np.diff(b)) + 1]) if n else np.zeros(0, int)
    sizes = np.diff(np.concatenate([starts, [n]])) if n else np.zeros(0, int)
    molecule = np.repeat(np.arange(len(starts)), sizes)  # 0..M-1 per bead
    mol_of_bond = molecule[bonds[:, 0]]
    crossing = np.flatnonzero(mol_of_bond != molecule[bonds[:, 1]])
    if len(crossing):
        raise ValueError(f"molecule {int(mol_of_bond[crossing[0]])}: a CG bond joins two "
                         "molecules")
    # the bonds of every molecule in one pass (grouped by molecule, local indices)
    order = np.argsort(mol_of_bond, kind="stable")
    per_molecule = np.split(bonds[order] - starts[mol_of_bond[order], None],
                            np.cumsum(np.bincount(mol_of_bond, minlength=len(starts)))[:-1])
    rows, cols, vals = [], [], []
    cache: dict[tuple[int, bytes], np.ndarray] = {}
    for a, size, local in zip(starts, sizes, per_molecule, strict=True):
        key = (int(size), np.ascontiguousarray(np.sort(local, axis=1)).tobytes())
        if key not in cache:
            cache[key] = correlation_factor(local, int(size), lambda0)
        k = cache[key]
        r, c = np.nonzero(np.abs(k) > 0)
        rows.append(r + a)
        cols.append(c + a)
        vals.append(k[r, c])
    if not rows:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty.clone(), torch.zeros(0)
    return (torch.from_numpy(np.concatenate(rows)), torch.from_numpy(np.concatenate(cols)),
            torch.from_numpy(np.concatenate(vals)))
