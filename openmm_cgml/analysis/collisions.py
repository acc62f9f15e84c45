"""Bead collisions and rollout stability.

A *collision* is a pair of non-bonded beads closer than a threshold (nm). The method calls two
beads collided when they come within 1 A (0.1 nm), the default here; a data-derived alternative
is a per-type-pair threshold from the closest approach seen in reference MD
(:func:`pair_type_min_distances`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from openmm_cgml.analysis._validation import as_pairs, as_trajectory

__all__ = [
    "DEFAULT_COLLISION_THRESHOLD_NM",
    "excluded_pairs",
    "colliding_beads",
    "collision_rate",
    "pair_type_min_distances",
    "closest_nonbonded_distance",
    "StabilityResult",
    "rollout_stability",
]

DEFAULT_COLLISION_THRESHOLD_NM = 0.1


def excluded_pairs(bonds: Any, num_particles: int, bond_separation: int = 1) -> np.ndarray:
    """Boolean ``[N, N]`` mask of pairs that never count as collisions.

    Excludes self pairs and pairs within ``bond_separation`` bonds (1: bonded pairs;
    2: also 1-3 pairs; 0: only self).
    """
    n = num_particles
    b = as_pairs(bonds, n)
    excl = np.eye(n, dtype=bool)
    if bond_separation <= 0 or len(b) == 0:
        return excl
    adj = np.zeros((n, n), dtype=bool)
    adj[b[:, 0], b[:, 1]] = True
    adj[b[:, 1], b[:, 0]] = True
    reach = adj.copy()
    frontier = adj.copy()
    for _ in range(bond_separation - 1):
        frontier = (frontier.astype(np.int64) @ adj.astype(np.int64)) > 0
        reach |= frontier
    return excl | reach


def _threshold_matrix(threshold: float | np.ndarray, n: int, bead_types: Any) -> float | np.ndarray:
    th = np.asarray(threshold, dtype=np.float64)
    if th.ndim == 0:
        if not th > 0:
            raise ValueError(f"collision threshold must be positive (nm); got {float(th)}")
        return float(th)
    if bead_types is None:
        raise ValueError(
            "a per-type-pair threshold matrix needs bead_types (one type index per bead)"
        )
    types = np.asarray(bead_types, dtype=np.int64).reshape(-1)
    if types.shape != (n,):
        raise ValueError(f"bead_types must have shape [{n}]; got {types.shape}")
    if th.ndim != 2 or th.shape[0] != th.shape[1] or types.max() >= th.shape[0] or types.min() < 0:
        raise ValueError(
            f"threshold matrix must be [n_types, n_types] covering every bead type; got {th.shape}"
        )
    return th[types[:, None], types[None, :]]


def _chunks(t: int, n: int, budget: int = 4_000_000) -> Iterator[slice]:
    step = max(1, budget // max(1, n * n))
    for s in range(0, t, step):
        yield slice(s, min(t, s + step))


def _min_image(d: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    if box is None:
        return d
    return d - box * np.round(d / box)


def _as_box(box: Any) -> np.ndarray | None:
    if box is None:
        return None
    b = np.asarray(box, dtype=np.float64)
    if b.shape == (3, 3):
        if np.any(b - np.diag(np.diag(b))):
            raise ValueError("only rectangular boxes are supported for collision detection")
        b = np.diag(b)
    if b.shape != (3,) or np.any(b < 0):
        raise ValueError(
            f"box must be [3] edge lengths or a diagonal [3, 3] matrix (nm); got {b.shape}"
        )
    return None if np.all(b == 0) else b


def _squared_distances(x: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    """``[t, N, N]`` squared distances (nm^2) of the frames ``x [t, N, 3]``.

    Open boundaries: ``|r_i|^2 + |r_j|^2 - 2 r_i.r_j`` (one batched matmul, ~10x faster than
    the ``[t, N, N, 3]`` differences) on coordinates centred per frame, so the cancellation
    error stays ~1e-14 nm^2. With a box: minimum-image differences.
    """
    if box is not None:
        diff = _min_image(x[:, :, None, :] - x[:, None, :, :], box)
        return np.einsum("tijc,tijc->tij", diff, diff)
    fin = np.isfinite(x).all(axis=-1, keepdims=True)  # [t, N, 1]
    centre = np.where(fin, x, 0.0).sum(axis=1, keepdims=True) / np.maximum(
        fin.sum(axis=1, keepdims=True), 1
    )
    xs = x - centre
    sq = np.einsum("tnc,tnc->tn", xs, xs)
    return sq[:, :, None] + sq[:, None, :] - 2.0 * np.matmul(xs, xs.transpose(0, 2, 1))


def colliding_beads(
    positions: Any,
    threshold: float | np.ndarray = DEFAULT_COLLISION_THRESHOLD_NM,
    bonds: Any = None,
    bead_types: Any = None,
    bond_separation: int = 1,
    box: Any = None,
) -> np.ndarray:
    """Boolean ``[T, N]``: does bead ``i`` at frame ``t`` have a non-bonded partner too close?

    Args:
        positions: ``[N, 3]`` or ``[T, N, 3]`` nm.
        threshold: nm, a scalar or a ``[n_types, n_types]`` matrix indexed by ``bead_types``.
        bonds: ``[B, 2]`` bonded pairs (excluded, with neighbours up to ``bond_separation``).
        bead_types: ``[N]`` int type index per bead (needed for a matrix threshold).
        box: rectangular periodic box edge lengths ``[3]`` nm (minimum image), or ``None``.

    Non-finite positions count as collided (a blown-up frame is not a valid configuration).
    """
    x, _ = as_trajectory(positions)
    t, n, _ = x.shape
    excl = excluded_pairs(bonds, n, bond_separation)
    th = _threshold_matrix(threshold, n, bead_types)
    b = _as_box(box)
    fin = np.isfinite(x).all(axis=-1)
    if b is None and n >= _TREE_MIN_BEADS:
        out = _colliding_open(x, fin, np.broadcast_to(th, (n, n)), excl)
    else:
        out = _colliding_dense(x, th, excl, b)
    out |= ~fin
    return out


# below this many beads the dense search is as fast (measured on 2 CPU cores: 15 beads
# 0.36 vs 0.52 ms per 100 frames, 28 beads 1.1 vs 0.9 ms, 111 beads 17 vs 4 ms, 300 beads
# 113 vs 13 ms; benchmarks/rollout_overhead.py times it inside batched rollouts)
_TREE_MIN_BEADS = 24


def _colliding_open(x: np.ndarray, fin: np.ndarray, th: np.ndarray, excl: np.ndarray,
                    budget: int = 2_000_000) -> np.ndarray:
    """:func:`colliding_beads` without a box: one k-d tree over many frames at once.

    The finite beads of a block of frames are laid side by side along x (each frame shifted
    past the previous one's extent by more than the largest threshold, so no pair spans two
    frames); the tree's pairs within the largest threshold are the candidates, then the exact
    ``|r_i - r_j| < th[i, j]`` test on the original coordinates. Collisions are rare, so this
    costs ~O(T N log N) instead of the ``T N^2`` distances of the dense test (4x faster at
    N ~ 100, 9x at 300).
    """
    from scipy.spatial import cKDTree

    t, n, _ = x.shape
    out = np.zeros((t, n), dtype=bool)
    th_max = float(th.max())
    for sl in _chunks(t, 1, max(1, budget // max(1, n))):
        ti, ii = np.nonzero(fin[sl])
        if len(ti) < 2:
            continue
        xs = x[sl]
        lo = np.where(fin[sl][..., None], xs, np.inf).min(axis=1)  # [t, 3] per-frame corner
        pts = xs[ti, ii] - lo[ti]  # [P, 3] nm
        gap = float(pts[:, 0].max()) + 2.0 * th_max + 1.0
        pts[:, 0] += ti * gap
        # candidates within th_max plus a margin above the rounding of the shifted coordinates
        # (far-flung beads and many frames make them large); the exact test follows
        margin = 1e-9 * th_max + 1e-13 * (float(np.abs(pts).max()) + 1.0)
        pairs = cKDTree(pts).query_pairs(th_max + margin, output_type="ndarray")
        if not len(pairs):
            continue
        p, q = pairs[:, 0], pairs[:, 1]
        f, i, j = ti[p] + sl.start, ii[p], ii[q]
        d = np.linalg.norm(x[f, i] - x[f, j], axis=-1)
        ok = (d < th[i, j]) & ~excl[i, j]
        out[f[ok], i[ok]] = True
        out[f[ok], j[ok]] = True
    return out


def _colliding_dense(x: np.ndarray, th: float | np.ndarray, excl: np.ndarray,
                     b: np.ndarray | None) -> np.ndarray:
    """:func:`colliding_beads` from all ``[t, N, N]`` (minimum-image) distances: periodic
    boxes and small molecules."""
    t, n, _ = x.shape
    out = np.zeros((t, n), dtype=bool)
    # candidates from the squared distances (a margin far above their rounding error), then
    # the exact |r_i - r_j| < threshold test on those pairs only
    th2 = np.square(th) + 1e-9
    th = np.broadcast_to(th, (n, n))
    for sl in _chunks(t, n):
        xs = x[sl]
        # inf/NaN in blown-up beads give NaN distances there (never "close"; the bead is
        # marked by the caller), not warnings
        with np.errstate(invalid="ignore"):
            ti, ii, jj = np.nonzero((_squared_distances(xs, b) < th2) & ~excl)
            d = np.linalg.norm(_min_image(xs[ti, ii] - xs[ti, jj], b), axis=-1)
        ok = d < th[ii, jj]
        out[sl][ti[ok], ii[ok]] = True
    return out


def collision_rate(
    positions: Any,
    threshold: float | np.ndarray = DEFAULT_COLLISION_THRESHOLD_NM,
    bonds: Any = None,
    bead_types: Any = None,
    bond_separation: int = 1,
    box: Any = None,
) -> float:
    """Fraction of bead-steps in collision.

    A bead-step ``(t, i)`` is in collision when bead ``i`` at frame ``t`` has a non-bonded
    partner ``j`` (not within ``bond_separation`` bonds) with ``|r_i - r_j| < threshold``.
    The rate is ``#collided bead-steps / (T * N)``. Default threshold 0.1 nm (1 A, as in the
    method); pass a ``[n_types, n_types]`` matrix with ``bead_types`` for per-type-pair
    thresholds (e.g. from :func:`pair_type_min_distances` of reference data).
    See :func:`colliding_beads` for the arguments (positions ``[N, 3]`` / ``[T, N, 3]`` nm).
    """
    hits = colliding_beads(positions, threshold, bonds, bead_types, bond_separation, box)
    return float(hits.mean())


def _nonbonded_distance_blocks(
    x: np.ndarray, bonds: Any, bond_separation: int, box: Any,
) -> tuple[np.ndarray, np.ndarray, Iterator[tuple[slice, np.ndarray]]]:
    """The non-bonded pairs ``(iu, ju)`` (``i < j``, not within ``bond_separation`` bonds) of
    the frames ``x [T, N, 3]`` and an iterator over blocks of frames of their minimum-image
    distances ``(frames, d [t, P] nm)``, ~10^6 pair-frames per block."""
    t, n, _ = x.shape
    iu, ju = np.nonzero(np.triu(~excluded_pairs(bonds, n, bond_separation), 1))
    b = _as_box(box)

    def blocks() -> Iterator[tuple[slice, np.ndarray]]:
        for sl in _chunks(t, 1, max(1, 1_000_000 // max(1, len(iu)))):
            yield sl, np.linalg.norm(_min_image(x[sl][:, iu] - x[sl][:, ju], b), axis=-1)

    return iu, ju, blocks()


def pair_type_min_distances(
    positions: Any,
    bead_types: Any,
    bonds: Any = None,
    bond_separation: int = 1,
    quantile: float = 0.0,
    box: Any = None,
    num_types: int | None = None,
) -> np.ndarray:
    """Closest non-bonded approach (nm) per bead-type pair in (reference) data.

    Returns a symmetric ``[n_types, n_types]`` matrix; with ``quantile > 0`` the given quantile
    of the per-frame minimum distances instead of the absolute minimum (robust to rare
    outliers). Pairs of types never seen together are ``inf``. Use e.g.
    ``0.9 * pair_type_min_distances(ref, types, bonds)`` as a ``collision_rate`` threshold.
    """
    x, _ = as_trajectory(positions)
    t, n, _ = x.shape
    types = np.asarray(bead_types, dtype=np.int64).reshape(-1)
    if types.shape != (n,):
        raise ValueError(f"bead_types must have shape [{n}]; got {types.shape}")
    k = int(types.max()) + 1 if num_types is None else int(num_types)
    # per frame, per type pair minimum
    per_frame = np.full((t, k, k), np.inf)
    iu, ju, blocks = _nonbonded_distance_blocks(x, bonds, bond_separation, box)
    ti, tj = types[iu], types[ju]
    lo, hi = np.minimum(ti, tj), np.maximum(ti, tj)
    code = lo * k + hi
    for sl, d in blocks:
        block = np.full((d.shape[0], k * k), np.inf)
        for c in np.unique(code):
            block[:, c] = d[:, code == c].min(axis=1)
        per_frame[sl] = block.reshape(-1, k, k)
    if quantile > 0:
        with np.errstate(invalid="ignore"):
            res = np.quantile(per_frame, quantile, axis=0)
    else:
        res = per_frame.min(axis=0)
    res = np.minimum(res, res.T)
    return res


def closest_nonbonded_distance(
    positions: Any,
    bonds: Any = None,
    bond_separation: int = 1,
    box: Any = None,
) -> np.ndarray | float:
    """Distance (nm) of the closest non-bonded bead pair in each frame.

    The continuous quantity behind :func:`collision_rate`: a frame collides when this is below
    the threshold. Its low tail against the reference's (e.g. the fraction of frames closer
    than anything the reference ever reaches) measures excluded volume with far fewer frames
    than the collision rate, whose events are rare.

    Args: positions ``[N, 3]`` or ``[T, N, 3]`` nm; bonds ``[B, 2]``; pairs within
    ``bond_separation`` bonds are excluded (as in :func:`collision_rate`); box: rectangular
    periodic box (nm) or ``None``.
    Returns: ``[T]`` nm (a float for one frame); ``inf`` where a frame has no non-bonded pair,
    ``nan`` where it is not finite.
    """
    x, single = as_trajectory(positions)
    out = np.full(len(x), np.inf)
    iu, _, blocks = _nonbonded_distance_blocks(x, bonds, bond_separation, box)
    if len(iu):
        for sl, d in blocks:
            out[sl] = d.min(axis=1)
    out[~np.isfinite(x).all(axis=(1, 2))] = np.nan
    return float(out[0]) if single else out


@dataclass(frozen=True)
class StabilityResult:
    """Outcome of :func:`rollout_stability`.

    ``stable``: no failure in any frame; ``first_failure_frame``: index of the first bad frame
    (``-1`` if stable); ``reason``: ``"collision"``, ``"non-finite"``, ``"bond"`` or ``""``;
    ``num_frames``: frames checked.
    """

    stable: bool
    first_failure_frame: int
    reason: str
    num_frames: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rollout_stability(
    positions: Any,
    bonds: Any = None,
    threshold: float | np.ndarray = DEFAULT_COLLISION_THRESHOLD_NM,
    bead_types: Any = None,
    max_bond_length: float | None = None,
    box: Any = None,
) -> StabilityResult:
    """Is a rollout stable: no collision, no NaN/inf, and (optionally) no stretched bond?

    Args:
        positions: ``[T, N, 3]`` nm.
        bonds: ``[B, 2]`` bonded pairs.
        threshold: collision threshold (see :func:`collision_rate`).
        max_bond_length: nm; a bond longer than this counts as a blow-up (``None``: unchecked).
    """
    x, _ = as_trajectory(positions)
    t = x.shape[0]
    bad_finite = ~np.isfinite(x).all(axis=(1, 2))
    first = {"non-finite": int(np.argmax(bad_finite)) if bad_finite.any() else t}
    col = colliding_beads(
        np.nan_to_num(x, nan=1e6, posinf=1e6, neginf=-1e6), threshold, bonds, bead_types, 1, box
    ).any(axis=1)
    col &= ~bad_finite
    first["collision"] = int(np.argmax(col)) if col.any() else t
    if max_bond_length is not None and bonds is not None:
        b = as_pairs(bonds, x.shape[1])
        if len(b):
            with np.errstate(invalid="ignore"):
                blen = np.linalg.norm(x[:, b[:, 0]] - x[:, b[:, 1]], axis=-1)
            over = (blen > max_bond_length).any(axis=1) & ~bad_finite
            first["bond"] = int(np.argmax(over)) if over.any() else t
    reason, frame = min(first.items(), key=lambda kv: kv[1])
    if frame >= t:
        return StabilityResult(True, -1, "", t)
    return StabilityResult(False, frame, reason, t)
