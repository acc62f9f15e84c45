"""Autocorrelation, relaxation times and diffusion against processes with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.signal import lfilter

from openmm_cgml.analysis import (
    autocorrelation,
    diffusion_coefficient,
    estimate_relaxation_time,
    mean_squared_displacement,
    relaxation_time,
)


def ar1(n: int, tau_steps: float, seed: int, runs: int | None = None) -> tuple[np.ndarray, float]:
    """Stationary AR(1): x_{t+1} = phi x_t + sqrt(1-phi^2) e_t with phi = exp(-1/tau)."""
    phi = float(np.exp(-1.0 / tau_steps))
    rng = np.random.default_rng(seed)
    shape = (n,) if runs is None else (runs, n)
    e = rng.normal(size=shape) * np.sqrt(1 - phi**2)
    e[..., 0] = rng.normal(size=shape[:-1])  # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], e, axis=-1), phi


def test_acf_lag0_and_bruteforce():
    rng = np.random.default_rng(0)
    x = rng.normal(size=257).cumsum()
    rho = autocorrelation(x)
    assert rho[0] == 1.0
    dx = x - x.mean()
    brute = np.array([np.sum(dx[: len(x) - t] * dx[t:]) for t in range(len(x))]) / np.sum(dx * dx)
    np.testing.assert_allclose(rho, brute, atol=1e-12)
    rho_u = autocorrelation(x, max_lag=10, unbiased=True)
    np.testing.assert_allclose(rho_u, brute[:11] * len(x) / (len(x) - np.arange(11)), atol=1e-12)


def test_acf_of_ar1_matches_exponential():
    x, phi = ar1(200_000, 20.0, seed=1)
    rho = autocorrelation(x, max_lag=60)
    np.testing.assert_allclose(rho, phi ** np.arange(61), atol=0.03)


def test_acf_multiple_runs_and_errors():
    x, phi = ar1(20_000, 10.0, seed=2, runs=8)
    rho = autocorrelation(x, max_lag=30)
    np.testing.assert_allclose(rho, phi ** np.arange(31), atol=0.04)
    with pytest.raises(ValueError, match="constant"):
        autocorrelation(np.ones(10))
    with pytest.raises(ValueError, match="NaN"):
        autocorrelation([1.0, np.nan, 2.0])


@pytest.mark.parametrize("tau_steps", [5.0, 20.0])
@pytest.mark.parametrize("method", ["integrated", "exp_fit"])
def test_relaxation_time_recovers_ar1_tau(tau_steps, method):
    dt = 0.5  # ps
    x, phi = ar1(200_000, tau_steps, seed=int(tau_steps))
    est = estimate_relaxation_time(x, dt=dt, method=method)
    # exact integrated time of AR(1) is (1 + phi) / (2 (1 - phi)) steps (= tau up to O(1/tau))
    exact = (1 + phi) / (2 * (1 - phi)) * dt if method == "integrated" else tau_steps * dt
    assert est.converged
    assert abs(est.tau - exact) < max(4 * est.stderr, 0.02 * exact), (est, exact)
    assert abs(est.tau - exact) / exact < 0.1
    assert relaxation_time(x, dt, method=method) == est.tau
    if method == "integrated":
        # Sokal window: smallest M >= 5 tau
        assert est.window >= 5 * est.tau / dt
        assert est.window < 5 * est.tau / dt + 2


def test_relaxation_time_first_zero_window_and_runs():
    x, phi = ar1(20_000, 10.0, seed=5, runs=10)
    exact = (1 + phi) / (2 * (1 - phi))
    assert relaxation_time(x, 1.0) == pytest.approx(exact, rel=0.1)
    assert relaxation_time(x, 1.0, window="first_zero") == pytest.approx(exact, rel=0.15)


def test_relaxation_time_too_short_warns_lower_bound():
    x, _ = ar1(50, 200.0, seed=6)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        est = estimate_relaxation_time(x, 1.0)
    assert not est.converged
    assert any("lower bound" in str(w.message) for w in rec)
    with pytest.raises(ValueError, match="method"):
        relaxation_time(x, 1.0, method="nope")
    with pytest.raises(ValueError, match="dt"):
        relaxation_time(x, 0.0)


def test_msd_and_diffusion_of_brownian_walk():
    d_true, dt = 0.3, 2.0  # nm^2/ps, ps
    rng = np.random.default_rng(7)
    steps = rng.normal(scale=np.sqrt(2 * d_true * dt), size=(5_000, 16, 3))
    traj = np.cumsum(steps, axis=0)
    msd = mean_squared_displacement(traj, center_of_mass=False, max_lag=500)
    assert msd[0] == 0
    np.testing.assert_allclose(msd[1], 6 * d_true * dt, rtol=0.05)
    d = diffusion_coefficient(msd, dt)
    assert d == pytest.approx(d_true, rel=0.1)
    # centre of mass of 16 independent walkers diffuses 16x slower
    msd_com = mean_squared_displacement(traj, max_lag=500)
    assert diffusion_coefficient(msd_com, dt) == pytest.approx(d_true / 16, rel=0.3)


def test_msd_matches_bruteforce():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(40, 3, 3)).cumsum(axis=0)
    msd = mean_squared_displacement(x, center_of_mass=False)
    brute = [np.mean(np.sum((x[t:] - x[: len(x) - t]) ** 2, axis=-1)) for t in range(len(x))]
    np.testing.assert_allclose(msd, brute, atol=1e-9)
