"""Structural observables of bead (or atom) trajectories.

All positions are in nm with shape ``[N, 3]`` (one frame) or ``[T, N, 3]`` (a trajectory);
masses in amu; angles in radians. Every function is vectorised over frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from openmm_cgml.analysis._validation import as_masses, as_pairs, as_positions, as_trajectory

__all__ = [
    "radius_of_gyration",
    "center_of_mass",
    "pairwise_distances",
    "bond_lengths",
    "angle_triples",
    "bond_angles",
    "distance_map",
    "contact_map",
    "superpose",
    "rmsd",
    "native_contacts",
    "fraction_native_contacts",
]


def center_of_mass(positions: Any, masses: Any = None) -> np.ndarray:
    """Mass-weighted centre of ``positions`` ``[..., N, 3]`` (nm) -> ``[..., 3]`` (nm)."""
    x = as_positions(positions)
    m = as_masses(masses, x.shape[-2])
    return np.einsum("...ni,n->...i", x, m) / m.sum()


def radius_of_gyration(positions: Any, masses: Any = None) -> np.ndarray | float:
    """Mass-weighted radius of gyration.

    ``Rg = sqrt( sum_i m_i |r_i - r_com|^2 / sum_i m_i )``.

    Args:
        positions: ``[N, 3]`` or ``[T, N, 3]`` (any leading shape ``[..., N, 3]``), nm.
        masses: ``[N]`` amu, or ``None`` for equal masses.

    Returns:
        Rg in nm: a Python float for one frame, else an array of the leading shape (``[T]``).
    """
    x = as_positions(positions)
    m = as_masses(masses, x.shape[-2])
    com = np.einsum("...ni,n->...i", x, m) / m.sum()
    d2 = np.sum((x - com[..., None, :]) ** 2, axis=-1)
    rg = np.sqrt(d2 @ m / m.sum())
    return float(rg) if rg.ndim == 0 else rg


def pairwise_distances(positions: Any, pairs: Any = None) -> np.ndarray:
    """Distances (nm) for index ``pairs`` ``[P, 2]``; all ``i<j`` pairs when ``None``.

    Returns ``[..., P]`` for positions ``[..., N, 3]``.
    """
    x = as_positions(positions)
    n = x.shape[-2]
    if pairs is None:
        i, j = np.triu_indices(n, k=1)
    else:
        p = as_pairs(pairs, n, "pairs")
        i, j = p[:, 0], p[:, 1]
    return np.linalg.norm(x[..., i, :] - x[..., j, :], axis=-1)


def bond_lengths(positions: Any, bonds: Any) -> np.ndarray:
    """Bond lengths (nm): positions ``[..., N, 3]``, bonds ``[B, 2]`` -> ``[..., B]``."""
    return pairwise_distances(positions, as_pairs(bonds, None))


def angle_triples(bonds: Any, num_particles: int | None = None) -> np.ndarray:
    """All bonded angles ``(i, j, k)`` with ``j`` the centre, from a bond list ``[B, 2]``.

    Returns int64 ``[A, 3]`` with ``i < k``, sorted, unique.
    """
    b = as_pairs(bonds, num_particles)
    if len(b) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    n = int(b.max()) + 1 if num_particles is None else num_particles
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for a, c in b:
        if a == c:
            continue
        neighbours[a].append(int(c))
        neighbours[c].append(int(a))
    triples = set()
    for j, nb in enumerate(neighbours):
        nb = sorted(set(nb))
        for ai in range(len(nb)):
            for ci in range(ai + 1, len(nb)):
                triples.add((nb[ai], j, nb[ci]))
    if not triples:
        return np.zeros((0, 3), dtype=np.int64)
    return np.array(sorted(triples), dtype=np.int64)


def bond_angles(positions: Any, angles: Any) -> np.ndarray:
    """Angles (radians, in ``[0, pi]``) for triples ``[A, 3]`` (centre in the middle).

    positions ``[..., N, 3]`` nm -> ``[..., A]``.
    """
    x = as_positions(positions)
    a = np.asarray(angles, dtype=np.int64).reshape(-1, 3)
    u = x[..., a[:, 0], :] - x[..., a[:, 1], :]
    v = x[..., a[:, 2], :] - x[..., a[:, 1], :]
    cos = np.sum(u * v, axis=-1) / np.maximum(
        np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-30
    )
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _frame_chunks(t: int, n: int, budget: int = 4_000_000) -> Iterator[slice]:
    step = max(1, budget // max(1, n * n))
    for s in range(0, t, step):
        yield slice(s, min(t, s + step))


def distance_map(positions: Any) -> np.ndarray:
    """Mean inter-particle distance matrix (nm): ``[N,3]``/``[T,N,3]`` -> ``[N, N]``."""
    x, _ = as_trajectory(positions)
    t, n, _ = x.shape
    total = np.zeros((n, n))
    for sl in _frame_chunks(t, n):
        d = np.linalg.norm(x[sl, :, None, :] - x[sl, None, :, :], axis=-1)
        total += d.sum(axis=0)
    return total / t


def contact_map(positions: Any, cutoff: float = 1.0) -> np.ndarray:
    """Contact probability matrix: fraction of frames with ``|r_i - r_j| < cutoff`` (nm).

    ``[N, 3]`` or ``[T, N, 3]`` -> ``[N, N]`` float64 in ``[0, 1]`` (diagonal is 1).
    """
    if cutoff <= 0:
        raise ValueError(f"cutoff must be positive (nm); got {cutoff}")
    x, _ = as_trajectory(positions)
    t, n, _ = x.shape
    total = np.zeros((n, n))
    for sl in _frame_chunks(t, n):
        d = np.linalg.norm(x[sl, :, None, :] - x[sl, None, :, :], axis=-1)
        total += (d < cutoff).sum(axis=0)
    return total / t


def superpose(positions: Any, reference: Any, masses: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Optimal rigid superposition (Kabsch, mass-weighted) of each frame onto ``reference``.

    Args:
        positions: ``[N, 3]`` or ``[T, N, 3]`` nm.
        reference: ``[N, 3]`` nm.
        masses: ``[N]`` amu weights, or ``None``.

    Returns:
        ``(superposed [T, N, 3] nm, rotations [T, 3, 3])``; the superposed frames are
        translated onto the reference's (weighted) centre. Proper rotations only (det = +1).
    """
    x, _ = as_trajectory(positions)
    ref = as_positions(reference, "reference")
    if ref.ndim != 2 or ref.shape != x.shape[1:]:
        raise ValueError(f"reference must have shape {x.shape[1:]} (nm); got {ref.shape}")
    m = as_masses(masses, x.shape[1])
    w = m / m.sum()
    ref_c = ref - w @ ref
    xc = x - np.einsum("tni,n->ti", x, w)[:, None, :]
    # covariance H = sum_n w_n x_n ref_n^T  -> [T, 3, 3]
    h = np.einsum("tni,n,nj->tij", xc, w, ref_c)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("tij,tjk->tik", u, vt)))
    fix = np.ones((len(x), 3))
    fix[:, 2] = d
    rot = np.einsum("tij,tj,tjk->tik", u, fix, vt)  # x_c @ rot ~ ref_c
    out = np.einsum("tni,tij->tnj", xc, rot) + (w @ ref)
    return out, rot


def rmsd(positions: Any, reference: Any, masses: Any = None, superposed: bool = True) -> np.ndarray:
    """Root-mean-square deviation (nm) of each frame from ``reference`` ``[N, 3]``.

    With ``superposed=True`` (default) each frame is first optimally rotated and translated
    onto the reference (Kabsch). Mass-weighted when ``masses`` is given.
    Returns ``[T]`` (or a float for one frame).
    """
    x, single = as_trajectory(positions)
    ref = as_positions(reference, "reference")
    m = as_masses(masses, x.shape[1])
    if superposed:
        x, _ = superpose(x, ref, m)
    w = m / m.sum()
    r = np.sqrt(np.sum((x - ref) ** 2, axis=-1) @ w)
    return float(r[0]) if single else r


def native_contacts(reference: Any, cutoff: float = 1.0, min_separation: int = 3) -> np.ndarray:
    """Native contact pairs ``[P, 2]`` of a reference structure ``[N, 3]`` (nm).

    A pair ``(i, j)`` with ``j - i > min_separation`` (chain index separation) whose distance
    is below ``cutoff`` nm. For residue-level beads 1.0 nm is a common cutoff.
    """
    ref = as_positions(reference, "reference")
    if ref.ndim != 2:
        raise ValueError(f"reference must be one frame [N, 3]; got {ref.shape}")
    i, j = np.triu_indices(len(ref), k=min_separation + 1)
    d = np.linalg.norm(ref[i] - ref[j], axis=-1)
    keep = d < cutoff
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64)


def fraction_native_contacts(
    positions: Any,
    reference: Any,
    pairs: Any = None,
    beta: float = 50.0,
    lam: float = 1.5,
    cutoff: float = 1.0,
    min_separation: int = 3,
) -> np.ndarray | float:
    """Fraction of native contacts Q (Best, Hummer & Eaton, PNAS 2013, smooth switch).

    ``Q(t) = mean_{(i,j) native} 1 / (1 + exp(beta (r_ij(t) - lam r_ij^0)))`` with ``beta`` in
    nm^-1 (50 nm^-1 = 5 A^-1 as in the paper) and ``lam`` the tolerance factor (1.8 for heavy
    atoms in the paper; 1.5 default here for residue-level beads). Native pairs default to
    :func:`native_contacts` of ``reference`` (``cutoff`` nm, ``min_separation``).
    Returns ``[T]`` in ``[0, 1]`` (a float for one frame).
    """
    x, single = as_trajectory(positions)
    ref = as_positions(reference, "reference")
    p = native_contacts(ref, cutoff, min_separation) if pairs is None else as_pairs(pairs, len(ref))
    if len(p) == 0:
        raise ValueError(
            "the reference has no native contacts; increase cutoff or lower min_separation"
        )
    r0 = np.linalg.norm(ref[p[:, 0]] - ref[p[:, 1]], axis=-1)
    r = np.linalg.norm(x[:, p[:, 0]] - x[:, p[:, 1]], axis=-1)
    z = np.clip(beta * (r - lam * r0), -500, 500)
    q = np.mean(1.0 / (1.0 + np.exp(z)), axis=-1)
    return float(q[0]) if single else q
