"""Agreement scores: r^2, MAE, histograms and the Jensen-Shannon divergence between them."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "r2_score",
    "r2_interval",
    "r2_noise_ceiling",
    "pearson_r2",
    "mae",
    "rmse",
    "js_divergence",
    "histogram",
    "distribution_divergence",
]


def _paired(predicted: Any, reference: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    r = np.asarray(reference, dtype=np.float64).reshape(-1)
    if p.shape != r.shape:
        raise ValueError(
            "predicted and reference must have the same number of values; "
            f"got {p.size} and {r.size}"
        )
    if p.size == 0:
        raise ValueError("predicted and reference are empty")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(r))):
        raise ValueError("predicted/reference contain NaN or infinite values")
    return p, r


def r2_score(predicted: Any, reference: Any) -> float:
    """Coefficient of determination of ``predicted`` against ``reference`` (the truth).

    ``r^2 = 1 - sum (p - r)^2 / sum (r - mean(r))^2``: 1 for a perfect prediction, 0 for
    predicting the reference mean, negative when worse. This is measured against the
    identity line ``p = r`` (no refitted slope/offset), so it is stricter than the squared
    Pearson correlation (:func:`pearson_r2`). Inputs: equal-length ``[S]`` arrays (S systems).
    A constant reference raises ``ValueError`` (r^2 undefined).
    """
    p, r = _paired(predicted, reference)
    ss_tot = float(np.sum((r - r.mean()) ** 2))
    if ss_tot == 0.0:
        raise ValueError("r2_score is undefined for a constant reference (zero variance)")
    return 1.0 - float(np.sum((p - r) ** 2)) / ss_tot


def r2_interval(
    predicted: Any, reference: Any, level: float = 0.95, samples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap interval of :func:`r2_score` over the systems: ``(low, high)``.

    The ``S`` (predicted, reference) pairs are resampled with replacement ``samples`` times
    (seeded); resamples with a constant reference are skipped. The interval is the central
    ``level`` range of the resampled r^2 (percentile method). It says how much r^2 would
    move with another draw of systems of the same kind; with few systems or one dominant
    system it is wide. Inputs: equal-length ``[S]`` arrays, ``S >= 3``.
    """
    p, r = _paired(predicted, reference)
    if p.size < 3:
        raise ValueError(f"r2_interval needs at least 3 systems; got {p.size}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, p.size, size=(int(samples), p.size))
    rs, ps = r[idx], p[idx]
    ss_tot = np.sum((rs - rs.mean(axis=1, keepdims=True)) ** 2, axis=1)
    ok = ss_tot > 0
    if not ok.any():
        raise ValueError("r2_interval: every resample has a constant reference")
    vals = 1.0 - np.sum((ps[ok] - rs[ok]) ** 2, axis=1) / ss_tot[ok]
    lo, hi = np.quantile(vals, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def r2_noise_ceiling(
    reference: Any, reference_stderr: Any, predicted_stderr: Any | None = None
) -> float:
    """The r^2 that exact values would be expected to score against noisy references.

    If each reference value ``r_i`` is an estimate with standard error ``s_i`` (e.g. a
    relaxation time from a run of finite length), even a prediction equal to the true
    values scores ``1 - sum s_i^2 / sum (r_i - mean r)^2`` in expectation, not 1; when the
    prediction is itself an estimate with errors ``e_i`` (``predicted_stderr``), its
    ``e_i^2`` add to the numerator. Values near or below a target r^2 mean the target cannot
    be resolved at these run lengths. Inputs: ``[S]`` arrays in one unit.
    """
    r = np.asarray(reference, dtype=np.float64).reshape(-1)
    s = np.asarray(reference_stderr, dtype=np.float64).reshape(-1)
    if s.shape != r.shape:
        raise ValueError(f"reference_stderr has {s.size} values for {r.size} references")
    noise = s**2
    if predicted_stderr is not None:
        e = np.asarray(predicted_stderr, dtype=np.float64).reshape(-1)
        if e.shape != r.shape:
            raise ValueError(f"predicted_stderr has {e.size} values for {r.size} references")
        noise = noise + e**2
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(noise))):
        raise ValueError("r2_noise_ceiling: values or standard errors are NaN or infinite")
    ss_tot = float(np.sum((r - r.mean()) ** 2))
    if ss_tot == 0.0:
        raise ValueError("r2_noise_ceiling is undefined for a constant reference")
    return 1.0 - float(np.sum(noise)) / ss_tot


def pearson_r2(predicted: Any, reference: Any) -> float:
    """Squared Pearson correlation between ``predicted`` and ``reference`` ``[S]`` (in [0, 1])."""
    p, r = _paired(predicted, reference)
    if np.std(p) == 0 or np.std(r) == 0:
        raise ValueError("pearson_r2 is undefined when either series is constant")
    return float(np.corrcoef(p, r)[0, 1] ** 2)


def mae(predicted: Any, reference: Any) -> float:
    """Mean absolute error ``mean |p - r|`` (unit of the inputs)."""
    p, r = _paired(predicted, reference)
    return float(np.mean(np.abs(p - r)))


def rmse(predicted: Any, reference: Any) -> float:
    """Root-mean-square error ``sqrt(mean (p - r)^2)`` (unit of the inputs)."""
    p, r = _paired(predicted, reference)
    return float(np.sqrt(np.mean((p - r) ** 2)))


def js_divergence(p: Any, q: Any, base: float = 2.0) -> float:
    """Jensen-Shannon divergence between two histograms of the same shape (any dimension).

    ``JS = 1/2 KL(p || m) + 1/2 KL(q || m)`` with ``m = (p + q) / 2``; inputs are counts or
    densities on the same bins and are normalised to sum 1 here. With ``base=2`` the value
    lies in ``[0, 1]``: 0 for identical histograms, 1 for disjoint supports.
    """
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"histograms must have the same shape; got {a.shape} and {b.shape}")
    if np.any(a < 0) or np.any(b < 0) or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("histograms must be finite and non-negative")
    if a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("a histogram is empty (sums to zero)")
    a = a / a.sum()
    b = b / b.sum()
    m = 0.5 * (a + b)

    def _kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log(x[nz] / m[nz])))

    js = 0.5 * _kl(a) + 0.5 * _kl(b)
    return max(0.0, js / np.log(base))


def histogram(
    values: Any, bins: int | np.ndarray = 50, range: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised 1D histogram (probability density) -> ``(density [bins], edges [bins+1])``."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite values to histogram")
    density, edges = np.histogram(v, bins=bins, range=range, density=True)
    return density, edges


def distribution_divergence(
    predicted: Any,
    reference: Any,
    bins: int = 50,
    range: tuple[float, float] | None = None,
) -> float:
    """JS divergence (base 2, in [0, 1]) between the distributions of two samples.

    Both samples (any shape, flattened; e.g. bond lengths in nm or angles in rad) are binned on
    a common grid: ``bins`` equal bins over ``range``, by default the span of both samples
    together (so values outside the reference's support count as disagreement).
    """
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    r = np.asarray(reference, dtype=np.float64).reshape(-1)
    p, r = p[np.isfinite(p)], r[np.isfinite(r)]
    if p.size == 0 or r.size == 0:
        raise ValueError("distribution_divergence needs finite values in both samples")
    if range is None:
        lo, hi = min(p.min(), r.min()), max(p.max(), r.max())
        if hi <= lo:
            return 0.0
        range = (float(lo), float(hi))
    hp, _ = np.histogram(p, bins=bins, range=range)
    hr, _ = np.histogram(r, bins=bins, range=range)
    if hp.sum() == 0 or hr.sum() == 0:
        return 1.0
    return js_divergence(hp, hr)
