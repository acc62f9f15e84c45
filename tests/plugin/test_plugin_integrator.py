"""CGMLIntegrator against analytic step modules on OpenMM's Reference and CPU platforms."""

from __future__ import annotations

import io

import numpy as np
import openmm
import pytest
import torch
from openmm import unit
from plugin_modules import (
    ForceDriftStep,
    LinearHistoryStep,
    NaNAfterStep,
    OUStep,
    linear_history_reference,
)

from openmm_cgml.plugin import CGMLIntegrator, deserialize

PLATFORMS = ["Reference", "CPU"]


def make_system(n: int, mass: float = 100.0) -> openmm.System:
    system = openmm.System()
    for _ in range(n):
        system.addParticle(mass)
    return system


def make_context(system, integrator, platform: str) -> openmm.Context:
    return openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform))


def positions_of(context) -> np.ndarray:
    state = context.getState(getPositions=True)
    return state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)


def cubic(t: float, a: np.ndarray, b: np.ndarray, c: np.ndarray, s: float) -> np.ndarray:
    return a + b * t + c * t**2 + s / 6.0 * t**3


@pytest.mark.parametrize("platform", PLATFORMS)
def test_whole_history_closed_form(platform):
    """x_{t+1} = x_{t-2} - 3 x_{t-1} + 3 x_t + s has the cubic a + bt + ct^2 + s t^3/6."""
    n, s = 7, 0.002
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=(3, n, 3)) * np.array([1.0, 0.05, 0.001])[:, None, None]
    module = torch.jit.script(LinearHistoryStep(n, [1.0, -3.0, 3.0], shift=s))
    integrator = CGMLIntegrator(module, seed=3)
    context = make_context(make_system(n), integrator, platform)
    history = np.stack([cubic(t, a, b, c, s) for t in range(3)])
    context.setPositions(history[-1])
    integrator.setHistory(history)
    np.testing.assert_allclose(integrator.getHistory(), history, rtol=0, atol=1e-12)
    steps = 25
    integrator.step(steps)
    expected = cubic(2 + steps, a, b, c, s)
    np.testing.assert_allclose(positions_of(context), expected, rtol=0, atol=1e-9)
    # history holds the last three frames; the closed form says exactly which
    expected_hist = np.stack([cubic(t, a, b, c, s) for t in range(steps, steps + 3)])
    np.testing.assert_allclose(integrator.getHistory(), expected_hist, rtol=0, atol=1e-9)
    # velocities are the finite difference of the last two frames
    v = context.getState(getVelocities=True).getVelocities(asNumpy=True)._value
    dt = integrator.getStepSize().value_in_unit(unit.picosecond)
    np.testing.assert_allclose(v, (expected_hist[-1] - expected_hist[-2]) / dt, atol=1e-8)
    state = context.getState()
    assert context.getStepCount() == steps
    assert state.getTime().value_in_unit(unit.picosecond) == pytest.approx(steps * dt)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_general_weights_match_recurrence(platform):
    n, weights, shift = 4, [0.1, -0.2, 0.3, 0.8], 0.003
    module = torch.jit.script(LinearHistoryStep(n, weights, shift=shift))
    integrator = CGMLIntegrator(module)
    context = make_context(make_system(n), integrator, platform)
    rng = np.random.default_rng(2)
    history = rng.normal(size=(4, n, 3))
    context.setPositions(history[-1])
    integrator.setHistory(history)
    integrator.step(30)
    expected = linear_history_reference(history, weights, shift, 30)
    np.testing.assert_allclose(integrator.getHistory(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_history_rebuilt_from_positions_and_velocities(platform):
    """After setPositions the history is x - j dt v; the quadratic recurrence keeps it linear."""
    n = 5
    module = torch.jit.script(LinearHistoryStep(n, [1.0, -3.0, 3.0], shift=0.0))
    integrator = CGMLIntegrator(module)
    dt = integrator.getStepSize().value_in_unit(unit.picosecond)
    context = make_context(make_system(n), integrator, platform)
    rng = np.random.default_rng(3)
    x0, v0 = rng.normal(size=(2, n, 3))
    context.setPositions(x0)
    context.setVelocities(v0)
    np.testing.assert_allclose(
        integrator.getHistory(), np.stack([x0 - 2 * dt * v0, x0 - dt * v0, x0]), atol=1e-12
    )
    integrator.step(10)
    np.testing.assert_allclose(positions_of(context), x0 + 10 * dt * v0, atol=1e-9)

    # A new setPositions resets the history: with zero velocities nothing moves.
    x1 = rng.normal(size=(n, 3))
    context.setPositions(x1)
    context.setVelocities(np.zeros((n, 3)))
    integrator.step(5)
    np.testing.assert_allclose(positions_of(context), x1, atol=1e-12)
    # setVelocities alone also rebuilds it from the current positions
    v1 = rng.normal(size=(n, 3))
    context.setVelocities(v1)
    integrator.step(4)
    np.testing.assert_allclose(positions_of(context), x1 + 4 * dt * v1, atol=1e-9)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_ornstein_uhlenbeck_statistics(platform):
    """Stationary mean mu and variance s^2/(1-a^2), lag-1 autocorrelation a."""
    n, a, s, mu = 100, 0.7, 0.2, 1.5
    module = torch.jit.script(OUStep(n, a=a, s=s, mu=mu))
    integrator = CGMLIntegrator(module, seed=12345)
    context = make_context(make_system(n), integrator, platform)
    context.setPositions(np.full((n, 3), mu))
    samples = []
    for _ in range(1500):
        integrator.step(1)
        samples.append(integrator.getHistory()[-1])
    x = np.asarray(samples[20:])  # [T, n, 3]
    var_theory = s**2 / (1 - a**2)
    # effective independent samples: T * n * 3 * (1 - a) / (1 + a)
    n_eff = x.size * (1 - a) / (1 + a)
    se_mean = np.sqrt(var_theory / n_eff)
    se_var = var_theory * np.sqrt(2.0 / n_eff)
    assert abs(x.mean() - mu) < 5 * se_mean
    assert abs(x.var() - var_theory) < 5 * se_var
    d = x - mu
    rho = (d[1:] * d[:-1]).mean() / (d * d).mean()
    assert abs(rho - a) < 0.02


@pytest.mark.parametrize("platform", PLATFORMS)
def test_same_seed_same_trajectory_different_seed_differs(platform):
    n = 10
    module = torch.jit.script(OUStep(n, precision="float32"))
    runs = []
    for seed in (7, 7, 8):
        integrator = CGMLIntegrator(module, seed=seed)
        context = make_context(make_system(n), integrator, platform)
        context.setPositions(np.zeros((n, 3)))
        integrator.step(20)
        runs.append(positions_of(context))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_checkpoint_restart_is_bit_identical(platform):
    n = 12
    module = torch.jit.script(OUStep(n, a=0.9, s=0.05, history_length=3, precision="float32"))
    system = make_system(n)
    x0 = np.random.default_rng(4).normal(size=(n, 3))

    integrator = CGMLIntegrator(module, seed=99)
    context = make_context(system, integrator, platform)
    context.setPositions(x0)
    integrator.step(15)
    checkpoint = context.createCheckpoint()
    integrator.step(25)
    uninterrupted = positions_of(context)
    uninterrupted_hist = integrator.getHistory()

    # restart in a fresh Context with a fresh integrator (other seed: the checkpoint wins)
    integrator2 = CGMLIntegrator(module, seed=1)
    context2 = make_context(system, integrator2, platform)
    context2.setPositions(np.zeros((n, 3)))
    context2.loadCheckpoint(checkpoint)
    integrator2.step(25)
    np.testing.assert_array_equal(positions_of(context2), uninterrupted)
    np.testing.assert_array_equal(integrator2.getHistory(), uninterrupted_hist)
    assert context2.getStepCount() == 40

    # and the same in the original context (load, then continue)
    context.loadCheckpoint(checkpoint)
    integrator.step(25)
    np.testing.assert_array_equal(positions_of(context), uninterrupted)

    # the checkpoint really carries the generator state: reseeding changes the result
    context.loadCheckpoint(checkpoint)
    integrator.setRandomNumberSeed(5)
    integrator.step(25)
    assert not np.array_equal(positions_of(context), uninterrupted)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_set_positions_after_checkpoint_resets_history(platform):
    n = 3
    module = torch.jit.script(LinearHistoryStep(n, [1.0, -3.0, 3.0], shift=0.0))
    integrator = CGMLIntegrator(module)
    context = make_context(make_system(n), integrator, platform)
    context.setPositions(np.zeros((n, 3)))
    context.setVelocities(np.ones((n, 3)))
    integrator.step(3)
    checkpoint = context.createCheckpoint()
    context.loadCheckpoint(checkpoint)
    x = np.full((n, 3), 5.0)
    context.setPositions(x)
    context.setVelocities(np.zeros((n, 3)))
    integrator.step(2)
    np.testing.assert_allclose(positions_of(context), x, atol=1e-12)


def test_xml_serializer_round_trip():
    n = 6
    module = torch.jit.script(OUStep(n, precision="float32"))
    integrator = CGMLIntegrator(module, seed=42)
    integrator.setIntegrationForceGroups(3)
    xml = openmm.XmlSerializer.serialize(integrator)
    assert "CGMLIntegrator" in xml
    copy = openmm.XmlSerializer.deserialize(xml)
    assert isinstance(copy, openmm.Integrator)
    assert copy.getStepSize() == integrator.getStepSize()
    typed = deserialize(xml)
    assert isinstance(typed, CGMLIntegrator)
    assert typed.getModelBytes() == integrator.getModelBytes()
    assert typed.getRandomNumberSeed() == 42
    assert typed.getIntegrationForceGroups() == 3
    # both run and give identical trajectories (same seed)
    results = []
    for integ in (integrator, copy, typed):
        context = openmm.Context(make_system(n), integ, openmm.Platform.getPlatformByName("CPU"))
        context.setPositions(np.zeros((n, 3)))
        integ.step(10)
        results.append(positions_of(context))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_copy_and_pickle_keep_type_and_trajectory():
    import copy
    import pickle

    n = 5
    integrator = CGMLIntegrator(torch.jit.script(OUStep(n)), seed=17)
    integrator.setUsesPeriodicBox(True)
    clones = [copy.copy(integrator), copy.deepcopy(integrator),
              pickle.loads(pickle.dumps(integrator))]
    results = []
    for integ in [integrator, *clones]:
        assert isinstance(integ, CGMLIntegrator)
        assert integ.getRandomNumberSeed() == 17 and integ.getUsesPeriodicBox()
        context = make_context(make_system(n), integ, "Reference")
        context.setPositions(np.zeros((n, 3)))
        integ.step(5)
        results.append(positions_of(context))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_external_force_pass_through(platform):
    """F from a CustomExternalForce reaches the module: x_{t+1} = x_t + c F."""
    n, c = 4, 0.01
    system = make_system(n)
    force = openmm.CustomExternalForce("0.5*kx*x^2 + ky*y")
    force.addGlobalParameter("kx", 200.0)
    force.addGlobalParameter("ky", 3.0)
    for i in range(n):
        force.addParticle(i, [])
    system.addForce(force)
    integrator = CGMLIntegrator(torch.jit.script(ForceDriftStep(n, c=c)))
    context = make_context(system, integrator, platform)
    x = np.random.default_rng(5).normal(size=(n, 3))
    context.setPositions(x)
    expected = x.copy()
    for _ in range(5):
        expected = expected + c * np.stack(
            [-200.0 * expected[:, 0], np.full(n, -3.0), np.zeros(n)], axis=1
        )
    integrator.step(5)
    np.testing.assert_allclose(positions_of(context), expected, atol=1e-9)

    # forces outside the integration groups are not passed
    force.setForceGroup(2)
    integrator2 = CGMLIntegrator(torch.jit.script(ForceDriftStep(n, c=c)))
    integrator2.setIntegrationForceGroups(1 << 0)
    context2 = make_context(system, integrator2, platform)
    context2.setPositions(x)
    integrator2.step(3)
    np.testing.assert_allclose(positions_of(context2), x, atol=1e-12)


def test_periodic_box_passed_when_requested():
    n = 2
    system = make_system(n)
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(2.0, 0, 0), openmm.Vec3(0, 3.0, 0), openmm.Vec3(0, 0, 4.0)
    )
    module = torch.jit.script(ForceDriftStep(n, c=0.0, b=0.1))
    integrator = CGMLIntegrator(module)
    context = make_context(system, integrator, "Reference")
    context.setPositions(np.zeros((n, 3)))
    integrator.step(1)
    np.testing.assert_allclose(positions_of(context), 0.0, atol=1e-12)  # no PBC: box zeros
    integrator2 = CGMLIntegrator(module)
    integrator2.setUsesPeriodicBox(True)
    context2 = make_context(system, integrator2, "Reference")
    context2.setPositions(np.zeros((n, 3)))
    integrator2.step(1)
    np.testing.assert_allclose(positions_of(context2), [[0.2, 0.3, 0.4]] * n, atol=1e-12)


def test_model_sources_path_bytes_module(tmp_path):
    n = 3
    module = torch.jit.script(OUStep(n))
    path = tmp_path / "step.pt"
    torch.jit.save(module, str(path))
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    for source in (module, str(path), path, buf.getvalue()):
        integrator = CGMLIntegrator(source, seed=1)
        assert integrator.getHistoryLength() == 2
        assert integrator.getNoiseDraws() == 1
        assert integrator.getNumParticles() == n
        assert integrator.getStepSize() == 1.0 * unit.picosecond
        assert integrator.getPrecision() == "float64"


def test_nan_output_refused_with_step_number():
    n = 3
    module = torch.jit.script(NaNAfterStep(n, threshold=0.45))
    integrator = CGMLIntegrator(module)
    context = make_context(make_system(n), integrator, "Reference")
    context.setPositions(np.zeros((n, 3)))
    with pytest.raises(openmm.OpenMMException, match=r"NaN or infinite positions at step 5"):
        integrator.step(10)
    # positions are those of the last good step (4 steps of +0.1 nm)
    np.testing.assert_allclose(positions_of(context)[:, 0], 0.4, atol=1e-6)
    assert context.getStepCount() == 4


def test_cuda_graph_switch_status_and_serialization():
    n = 4
    safe = CGMLIntegrator(torch.jit.script(OUStep(n, graph_safe=True)), seed=1)
    plain = CGMLIntegrator(torch.jit.script(OUStep(n)), seed=1)
    assert safe.getUseCudaGraphs() and plain.getUseCudaGraphs()  # on by default
    assert safe.getCudaGraphStatus().startswith("not used: not bound")
    results, contexts = [], []
    for integ in (safe, plain):
        contexts.append(make_context(make_system(n), integ, "CPU"))
        contexts[-1].setPositions(np.zeros((n, 3)))
        integ.step(6)
        results.append(positions_of(contexts[-1]))
    # on the CPU platform the graph path is never taken: same numbers as the plain module
    np.testing.assert_array_equal(results[0], results[1])
    for integ in (safe, plain):
        assert integ.getCudaGraphStatus() == "not used: the module runs on cpu, not CUDA"
    safe.setUseCudaGraphs(False)
    assert safe.getCudaGraphStatus() == "not used: disabled by setUseCudaGraphs(False)"
    assert deserialize(openmm.XmlSerializer.serialize(safe)).getUseCudaGraphs() is False
    assert deserialize(openmm.XmlSerializer.serialize(plain)).getUseCudaGraphs() is True

