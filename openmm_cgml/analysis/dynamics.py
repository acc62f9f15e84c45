"""Time correlations: autocorrelation, relaxation times, mean-squared displacement, diffusion.

Time series have shape ``[T]`` (one run) or ``[R, T]`` (R independent runs of equal length,
e.g. several CG rollouts of one molecule); the ACF of ``[R, T]`` is the average over runs
around the common mean. ``dt`` is the spacing between samples in any time unit (usually ps);
relaxation times come back in the same unit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize

from openmm_cgml.analysis._validation import as_masses, as_series, as_trajectory

__all__ = [
    "autocorrelation",
    "relaxation_time",
    "estimate_relaxation_time",
    "RelaxationEstimate",
    "mean_squared_displacement",
    "diffusion_coefficient",
]


def autocorrelation(x: Any, max_lag: int | None = None, unbiased: bool = False) -> np.ndarray:
    """Normalised autocorrelation function (ACF) of a time series, by FFT.

    ``rho(t) = C(t) / C(0)`` with ``C(t) = 1/T sum_{s<T-t} dx(s) dx(s+t)`` and
    ``dx = x - mean(x)`` (the standard biased estimator, which is positive semi-definite and is
    what Sokal's windowed integrated time assumes). With ``unbiased=True`` the sum is divided by
    ``T - t`` instead (less bias at long lags, more noise). Zero-padded FFT, O(T log T).

    Args:
        x: ``[T]`` or ``[R, T]`` (R independent runs: the ACF is averaged over runs, using the
            mean over all runs).
        max_lag: longest lag returned (samples); default ``T - 1``.
        unbiased: divide by ``T - t`` instead of ``T``.

    Returns:
        ``[max_lag + 1]`` float64 with ``rho[0] = 1``. A constant series raises ``ValueError``.
    """
    a = as_series(x)
    a2 = a.reshape(-1, a.shape[-1])
    t = a2.shape[1]
    max_lag = t - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < t:
        raise ValueError(f"max_lag must be in [0, {t - 1}]; got {max_lag}")
    dx = a2 - a2.mean()
    nfft = 1 << int(math.ceil(math.log2(2 * t)))
    f = np.fft.rfft(dx, n=nfft, axis=1)
    c = np.fft.irfft(f * np.conj(f), n=nfft, axis=1)[:, :t].mean(axis=0)
    if unbiased:
        c = c / (t - np.arange(t))
    else:
        c = c / t
    if not c[0] > 0:
        raise ValueError("the series is constant: its autocorrelation is undefined")
    return c[: max_lag + 1] / c[0]


@dataclass(frozen=True)
class RelaxationEstimate:
    """Result of :func:`estimate_relaxation_time` (times in the unit of ``dt``).

    Attributes:
        tau: relaxation time.
        method: ``"integrated"`` or ``"exp_fit"``.
        window: number of lags used (the integration / fitting window, samples).
        converged: False when the series is too short: the window rule was never met (the
            window hit the end of the usable ACF, lags up to T/2) or a run spans fewer than
            ``min_length`` relaxation times (default 50). Then ``tau`` is likely a lower bound.
        stderr: statistical error estimate of ``tau`` (Sokal's formula for the integrated
            time; the fit's standard error for ``exp_fit``).
        num_samples: total number of samples ``R * T``.
        samples_per_tau: ``T * dt / tau`` (length of one run in relaxation times).
    """

    tau: float
    method: str
    window: int
    converged: bool
    stderr: float
    num_samples: int
    samples_per_tau: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_relaxation_time(
    x: Any,
    dt: float = 1.0,
    method: Literal["integrated", "exp_fit"] = "integrated",
    window: Literal["sokal", "first_zero"] = "sokal",
    c: float = 5.0,
    max_lag: int | None = None,
    min_length: float = 50.0,
) -> RelaxationEstimate:
    """Relaxation time of a series with details of the estimator (see :func:`relaxation_time`)."""
    if not dt > 0:
        raise ValueError(f"dt must be positive; got {dt}")
    a = as_series(x)
    t = a.shape[-1]
    nruns = 1 if a.ndim == 1 else a.shape[0]
    usable = t // 2 if max_lag is None else min(int(max_lag), t - 1)
    rho = autocorrelation(a, max_lag=max(1, usable))
    lags = np.arange(len(rho))
    if method == "integrated":
        # tau(M) = dt * (1/2 + sum_{s=1}^{M} rho(s))  (trapezoid area under the ACF)
        cums = 0.5 + np.cumsum(rho) - rho[0]  # cums[M] = 1/2 + sum_{1..M}
        if window == "sokal":
            ok = np.nonzero(lags >= c * cums)[0]
            ok = ok[ok >= 1]
            converged = len(ok) > 0
            m = int(ok[0]) if converged else len(rho) - 1
        elif window == "first_zero":
            neg = np.nonzero(rho[1:] <= 0)[0]
            converged = len(neg) > 0
            m = int(neg[0]) if converged else len(rho) - 1  # lags 1..m are > 0
        else:
            raise ValueError(f"window must be 'sokal' or 'first_zero'; got {window!r}")
        tau_steps = max(float(cums[m]), 0.5)
        n_eff = t * nruns
        stderr_steps = tau_steps * math.sqrt(2.0 * (2 * m + 1) / n_eff)
        tau, stderr, wlen = tau_steps * dt, stderr_steps * dt, m
    elif method == "exp_fit":
        # fit rho(s) = exp(-s dt / tau) on the lags where rho > e^-2 (up to 2 tau)
        below = np.nonzero(rho < math.exp(-2.0))[0]
        converged = len(below) > 0
        m = int(below[0]) if converged else len(rho)
        m = max(m, 2)
        s = lags[:m].astype(np.float64)
        y = rho[:m]
        # starting guess from the 1/e crossing
        cross = np.nonzero(y < math.exp(-1.0))[0]
        tau0 = float(cross[0]) if len(cross) else float(m)
        try:
            popt, pcov = optimize.curve_fit(
                lambda s_, tau_: np.exp(-s_ / tau_),
                s,
                y,
                p0=[max(tau0, 0.5)],
                bounds=(1e-6, np.inf),
            )
        except RuntimeError as exc:  # pragma: no cover - curve_fit failing to converge
            raise ValueError(f"exponential fit of the ACF did not converge: {exc}") from exc
        tau = float(popt[0]) * dt
        stderr = float(np.sqrt(np.diag(pcov))[0]) * dt if np.all(np.isfinite(pcov)) else math.nan
        wlen = m
    else:
        raise ValueError(f"method must be 'integrated' or 'exp_fit'; got {method!r}")
    window_ok = converged
    long_enough = tau > 0 and t * dt >= min_length * tau
    converged = window_ok and long_enough
    if not converged:
        why = (
            "the window rule was never met"
            if not window_ok
            else (f"a run should span at least {min_length:g} relaxation times")
        )
        warnings.warn(
            f"relaxation_time({method}): the series ({t} samples, length {t * dt:.4g}) is too "
            f"short ({why}); the result {tau:.4g} is likely a lower bound. "
            "Use longer trajectories.",
            RuntimeWarning,
            stacklevel=3,
        )
    return RelaxationEstimate(
        tau=float(tau),
        method=method,
        window=int(wlen),
        converged=bool(converged),
        stderr=float(stderr),
        num_samples=int(t * nruns),
        samples_per_tau=float(t * dt / tau) if tau > 0 else math.inf,
    )


def relaxation_time(
    x: Any,
    dt: float = 1.0,
    method: Literal["integrated", "exp_fit"] = "integrated",
    window: Literal["sokal", "first_zero"] = "sokal",
    c: float = 5.0,
    max_lag: int | None = None,
    min_length: float = 50.0,
) -> float:
    """Relaxation time of a scalar series (e.g. Rg^2), in the unit of ``dt``.

    Estimators:

    * ``method="integrated"`` (default): the integrated autocorrelation time
      ``tau = dt * (1/2 + sum_{s=1}^{M} rho(s))`` (trapezoidal area under the normalised ACF),
      with the window ``M`` chosen by ``window``:

      - ``"sokal"`` (default): the smallest ``M`` with ``M >= c * tau(M) / dt`` (Sokal's
        self-consistent window, ``c = 5``); truncation bias ~ ``exp(-c)`` for an exponential ACF.
      - ``"first_zero"``: integrate up to the last lag before the ACF first crosses zero.

      For ``rho(t) = exp(-t / tau)`` this returns ``tau`` (up to ``O(dt^2 / tau)``).
    * ``method="exp_fit"``: least-squares fit of ``exp(-t / tau)`` to the ACF on lags
      ``0 .. M-1`` where ``M`` is the first lag with ``rho < e^-2`` (i.e. up to ~2 tau).

    Lags up to ``T // 2`` (or ``max_lag``) are used. If the window rule is never satisfied or a
    run is shorter than ``min_length`` (50) relaxation times, the value is likely a lower bound
    and a ``RuntimeWarning`` is issued; see
    :func:`estimate_relaxation_time` for the window, convergence flag and error estimate.

    Args:
        x: ``[T]`` or ``[R, T]`` (independent runs of equal length).
        dt: sample spacing (e.g. ps).
    """
    return estimate_relaxation_time(
        x, dt, method=method, window=window, c=c, max_lag=max_lag, min_length=min_length
    ).tau


def _msd_fft_1(x: np.ndarray) -> np.ndarray:
    """MSD over all time origins for ``x [T, P, 3]`` -> ``[T]`` (averaged over P)."""
    t = x.shape[0]
    d = np.sum(x**2, axis=-1)  # [T, P]
    # S1(m) = 1/(T-m) sum_{k=0}^{T-m-1} (|x_k|^2 + |x_{k+m}|^2), from cumulative sums
    csum = np.concatenate([np.zeros((1, d.shape[1])), np.cumsum(d, axis=0)], axis=0)  # [T+1, P]
    m = np.arange(t)
    s1 = (csum[t - m] + (csum[t] - csum[m])) / (t - m)[:, None]
    nfft = 1 << int(math.ceil(math.log2(2 * t)))
    f = np.fft.rfft(x, n=nfft, axis=0)
    s2 = np.fft.irfft(f * np.conj(f), n=nfft, axis=0)[:t].sum(axis=-1)
    s2 = s2 / (t - np.arange(t))[:, None]
    return (s1 - 2.0 * s2).mean(axis=1)


def mean_squared_displacement(
    positions: Any,
    masses: Any = None,
    center_of_mass: bool = True,
    max_lag: int | None = None,
) -> np.ndarray:
    """Mean-squared displacement (nm^2) averaged over all time origins, by FFT.

    Args:
        positions: ``[T, N, 3]`` nm, unwrapped (no periodic jumps).
        masses: ``[N]`` amu (used for the centre of mass).
        center_of_mass: ``True``: MSD of the molecule's centre of mass (for the molecule's
            diffusion coefficient); ``False``: per-particle MSD averaged over particles.
        max_lag: longest lag (frames), default ``T - 1``.

    Returns:
        ``[max_lag + 1]`` with ``msd[0] = 0``.
    """
    x, _ = as_trajectory(positions)
    if center_of_mass:
        m = as_masses(masses, x.shape[1])
        x = (np.einsum("tni,n->ti", x, m) / m.sum())[:, None, :]
    msd = _msd_fft_1(x)
    msd[0] = 0.0
    max_lag = x.shape[0] - 1 if max_lag is None else int(max_lag)
    return np.maximum(msd[: max_lag + 1], 0.0)


def diffusion_coefficient(
    msd: Any, dt: float, fit_range: tuple[float, float] = (0.1, 0.5), dim: int = 3
) -> float:
    """Diffusion coefficient from an MSD curve: ``D = slope / (2 dim)`` (nm^2 per unit of dt).

    The slope is a least-squares line through the MSD on lags between ``fit_range`` fractions
    of the curve's length (default 10%..50%: past the ballistic regime, before the noisy tail).
    """
    y = np.asarray(msd, dtype=np.float64).reshape(-1)
    n = len(y)
    lo, hi = int(fit_range[0] * (n - 1)), int(math.ceil(fit_range[1] * (n - 1)))
    lo = max(lo, 1)
    if hi - lo < 1:
        raise ValueError(f"the MSD curve ({n} lags) is too short for fit_range {fit_range}")
    lag_t = np.arange(lo, hi + 1) * dt
    slope = np.polyfit(lag_t, y[lo : hi + 1], 1)[0]
    return float(slope / (2 * dim))
