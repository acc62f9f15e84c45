"""Input checks shared by the analysis functions (clear errors instead of deep tracebacks)."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_positions(positions: Any, name: str = "positions", min_ndim: int = 2) -> np.ndarray:
    """Return ``positions`` as a float64 array of shape ``[..., N, 3]`` (nm).

    Accepts numpy arrays, nested lists, h5py datasets and ``openmm.unit.Quantity``
    (converted to nm).
    """
    if hasattr(positions, "value_in_unit"):
        from openmm import unit

        positions = positions.value_in_unit(unit.nanometer)
    arr = np.asarray(positions, dtype=np.float64)
    if arr.ndim < min_ndim or arr.shape[-1] != 3:
        raise ValueError(
            f"{name} must have shape [..., N, 3] (nm) with at least {min_ndim} dimensions; "
            f"got shape {arr.shape}"
        )
    return arr


def as_trajectory(positions: Any, name: str = "positions") -> tuple[np.ndarray, bool]:
    """Return ``(array [T, N, 3], was_single_frame)`` for input ``[N, 3]`` or ``[T, N, 3]``."""
    arr = as_positions(positions, name)
    if arr.ndim == 2:
        return arr[None], True
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape [N, 3] or [T, N, 3] (nm); got {arr.shape}")
    return arr, False


def as_masses(masses: Any, n: int, name: str = "masses") -> np.ndarray:
    """Return masses as float64 ``[n]`` (amu); ``None`` means equal masses."""
    if masses is None:
        return np.ones(n)
    m = np.asarray(masses, dtype=np.float64).reshape(-1)
    if m.shape != (n,):
        raise ValueError(
            f"{name} must have shape [{n}] (one mass per particle, amu); got {m.shape}"
        )
    if not np.all(np.isfinite(m)) or np.any(m < 0) or m.sum() <= 0:
        raise ValueError(f"{name} must be finite, non-negative and not all zero")
    return m


def as_pairs(pairs: Any, n: int | None, name: str = "bonds") -> np.ndarray:
    """Return an int64 ``[P, 2]`` array of particle index pairs (empty allowed)."""
    if pairs is None:
        return np.zeros((0, 2), dtype=np.int64)
    arr = np.asarray(pairs)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape [P, 2] (or [2, P]); got {arr.shape}")
    if arr.shape[1] != 2 and arr.shape[0] == 2:
        arr = arr.T
    if arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape [P, 2] (or [2, P]); got {arr.shape}")
    arr = arr.astype(np.int64)
    if n is not None and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{name} index out of range for {n} particles")
    return arr


def as_series(x: Any, name: str = "x") -> np.ndarray:
    """Return a float64 time series of shape ``[T]`` or ``[R, T]`` (R independent runs)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must have shape [T] or [R, T] (R independent runs); got {arr.shape}"
        )
    if arr.shape[-1] < 2:
        raise ValueError(f"{name} needs at least 2 time points; got {arr.shape[-1]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr
