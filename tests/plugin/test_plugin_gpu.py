"""CGMLIntegrator / CGMLForce on OpenMM's CUDA platform with the module on the GPU.

Run on a CUDA machine: ``pytest tests/plugin -m gpu``. Skipped when torch or OpenMM cannot
use CUDA.
"""

import numpy as np
import openmm
import pytest
import torch
from openmm import unit
from plugin_modules import (
    ForceDriftStep,
    HarmonicEnergy,
    LinearHistoryStep,
    OUStep,
)

from openmm_cgml.plugin import CGMLForce, CGMLIntegrator


def _cuda_platform_available() -> bool:
    names = [openmm.Platform.getPlatform(i).getName()
             for i in range(openmm.Platform.getNumPlatforms())]
    return torch.cuda.is_available() and "CUDA" in names


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _cuda_platform_available(),
                       reason="needs torch with CUDA and OpenMM's CUDA platform"),
]


def make_system(n: int) -> openmm.System:
    system = openmm.System()
    for _ in range(n):
        system.addParticle(100.0)
    return system


def cuda_context(system, integrator, precision: str = "mixed") -> openmm.Context:
    platform = openmm.Platform.getPlatformByName("CUDA")
    return openmm.Context(system, integrator, platform, {"Precision": precision})


def positions(context) -> np.ndarray:
    return context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(
        unit.nanometer
    )


def test_closed_form_on_cuda():
    n, s = 50, 0.001
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, n, 3)) * np.array([1.0, 0.05, 0.001])[:, None, None]

    def cubic(t):
        return a + b * t + c * t**2 + s / 6 * t**3

    integrator = CGMLIntegrator(torch.jit.script(LinearHistoryStep(n, [1.0, -3.0, 3.0], s)))
    context = cuda_context(make_system(n), integrator, "double")
    context.setPositions(cubic(2))
    integrator.setHistory(np.stack([cubic(t) for t in range(3)]))
    integrator.step(20)
    assert integrator.getDevice().startswith("cuda")
    np.testing.assert_allclose(positions(context), cubic(22), atol=1e-8)
    np.testing.assert_allclose(integrator.getHistory()[-1], cubic(22), atol=1e-8)


def test_cuda_matches_cpu_and_checkpoint_identity():
    n = 200
    module = torch.jit.script(OUStep(n, a=0.9, s=0.05, precision="float32"))
    x0 = np.random.default_rng(1).normal(size=(n, 3))
    integ_cpu = CGMLIntegrator(module, seed=5)
    ctx_cpu = openmm.Context(make_system(n), integ_cpu, openmm.Platform.getPlatformByName("CPU"))
    ctx_cpu.setPositions(x0)
    integ_cpu.step(30)

    integ = CGMLIntegrator(module, seed=5)
    ctx = cuda_context(make_system(n), integ)
    ctx.setPositions(x0)
    integ.step(10)
    checkpoint = ctx.createCheckpoint()
    integ.step(20)
    final = integ.getHistory()[-1]
    # same noise stream (drawn on the host) -> same trajectory up to float32 rounding
    np.testing.assert_allclose(final, integ_cpu.getHistory()[-1], atol=1e-4)
    ctx.loadCheckpoint(checkpoint)
    integ.step(20)
    np.testing.assert_array_equal(integ.getHistory()[-1], final)


def test_external_force_on_cuda():
    n, c = 64, 0.01
    system = make_system(n)
    force = openmm.CustomExternalForce("0.5*100*x^2")
    for i in range(n):
        force.addParticle(i, [])
    system.addForce(force)
    integrator = CGMLIntegrator(torch.jit.script(ForceDriftStep(n, c=c)))
    context = cuda_context(system, integrator, "double")
    x = np.random.default_rng(2).normal(size=(n, 3))
    context.setPositions(x)
    integrator.step(3)
    expected = x.copy()
    for _ in range(3):
        expected[:, 0] = expected[:, 0] - c * 100 * expected[:, 0]
    np.testing.assert_allclose(positions(context), expected, atol=1e-7)


def test_force_on_cuda_and_minimize():
    n = 100
    system = make_system(n)
    system.addForce(CGMLForce(torch.jit.script(HarmonicEnergy(k=80.0, x0=0.3))))
    context = cuda_context(system, openmm.LangevinMiddleIntegrator(300, 1, 0.002), "double")
    x = np.random.default_rng(3).normal(size=(n, 3))
    context.setPositions(x)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    assert energy == pytest.approx(0.5 * 80.0 * ((x - 0.3) ** 2).sum(), rel=1e-6)
    np.testing.assert_allclose(state.getForces(asNumpy=True)._value, -80.0 * (x - 0.3),
                               rtol=1e-5, atol=1e-5)
    openmm.LocalEnergyMinimizer.minimize(context, 1e-3, 1000)
    np.testing.assert_allclose(positions(context), 0.3, atol=1e-3)


def test_cuda_graph_replay_matches_ordinary_calls():
    """A graph_safe module is captured after three warm-up steps; replays (also after a
    checkpoint reload) give exactly the trajectory of ordinary calls with the same seed."""
    n = 300
    x0 = np.random.default_rng(4).normal(size=(n, 3))
    final, status = {}, {}
    for use in (True, False):
        module = torch.jit.script(OUStep(n, a=0.9, s=0.05, precision="float32", graph_safe=True))
        integ = CGMLIntegrator(module, seed=5)
        integ.setUseCudaGraphs(use)
        ctx = cuda_context(make_system(n), integ)
        ctx.setPositions(x0)
        integ.step(10)
        checkpoint = ctx.createCheckpoint()
        integ.step(20)
        final[use] = integ.getHistory()[-1]
        status[use] = integ.getCudaGraphStatus()
        ctx.loadCheckpoint(checkpoint)
        integ.step(20)
        np.testing.assert_array_equal(integ.getHistory()[-1], final[use])
    assert status[True] == "captured", status[True]
    assert "disabled" in status[False]
    np.testing.assert_array_equal(final[True], final[False])
    plain = CGMLIntegrator(torch.jit.script(OUStep(n)), seed=5)
    ctx = cuda_context(make_system(n), plain)
    ctx.setPositions(x0)
    plain.step(5)
    assert "not graph_safe" in plain.getCudaGraphStatus()



@pytest.mark.parametrize("correlation", [0.0, 0.3])
def test_shipped_model_replayed_as_cuda_graph(correlation):
    """The default model on villin, exported for CUDA (static graph chosen automatically), is
    captured by the integrator and follows the ordinary calls' trajectory (same seed; scatter
    sums use atomics, so agreement is to float rounding, not bit for bit); also with
    bond-graph correlated noise (``noise_correlation``, a sparse product per step)."""
    import os

    import openmm.app

    from openmm_cgml.pretrained import load_model
    from openmm_cgml.simulation import create_integrator, create_system

    model = load_model()
    villin = model.map(os.path.join(os.path.dirname(openmm.app.__file__), "data", "test.pdb"))
    module = model.export(villin, device="cuda", noise_correlation=correlation)
    assert module.graph_safe and module.noise_correlation == correlation
    x0 = villin.bead_positions()
    x0 = x0[0] if x0.ndim == 3 else x0
    final, status = {}, {}
    for use in (True, False):
        integ = create_integrator(module, seed=3)
        integ.setUseCudaGraphs(use)
        ctx = cuda_context(create_system(villin), integ)
        ctx.setPositions(x0)
        integ.step(8)
        final[use] = integ.getHistory()[-1]
        status[use] = integ.getCudaGraphStatus()
    assert status[True] == "captured", status[True]
    np.testing.assert_allclose(final[True], final[False], atol=1e-3)


def test_shipped_polymer_model_replayed_as_cuda_graph():
    """``polymer-comb-equivariant`` (equivariant GNN, k = 2) on a comb chain of the small
    polymer set, exported for CUDA: captured by the integrator as a CUDA graph, it follows
    the ordinary calls' trajectory (same seed, float rounding) and keeps its bonds."""
    import os

    from openmm_cgml.pretrained import load_model
    from openmm_cgml.reference.storage import TrajectoryFile
    from openmm_cgml.simulation import create_integrator, create_system

    model = load_model("polymer-comb-equivariant")
    path = os.path.join(os.path.dirname(__file__), "..", "data", "polymer", "poly_0011.h5")
    with TrajectoryFile(path) as tf:
        cg = tf.mapping
        frames = np.asarray(tf.bead_positions[:], dtype=np.float64)
    k = model.history_length
    module = model.export(cg, device="cuda")
    assert module.graph_safe
    final, status = {}, {}
    for use in (True, False):
        integ = create_integrator(module, seed=3)
        integ.setUseCudaGraphs(use)
        ctx = cuda_context(create_system(cg), integ)
        ctx.setPositions(frames[-1])
        integ.setHistory(frames[-k:])
        integ.step(8)
        final[use] = integ.getHistory()[-1]
        status[use] = integ.getCudaGraphStatus()
    assert status[True] == "captured", status[True]
    np.testing.assert_allclose(final[True], final[False], atol=1e-3)
    bonds = np.asarray(cg.cg_bonds).reshape(-1, 2)
    lengths = np.linalg.norm(final[True][bonds[:, 0]] - final[True][bonds[:, 1]], axis=-1)
    ref = np.linalg.norm(frames[:, bonds[:, 0]] - frames[:, bonds[:, 1]], axis=-1).max()
    assert np.all(np.isfinite(final[True])) and lengths.max() < 2 * ref


def test_simulate_on_cuda_with_tf32_and_optimized_executor(tmp_path):
    """``cgml simulate --tf32 --replicas 4`` on CUDA: the static-pair module is captured as a
    CUDA graph and run under TorchScript's optimizing executor; the run completes with finite
    Rg for every replica, and the summary records the settings."""
    import json
    import os

    import openmm.app

    from openmm_cgml.cli import main

    pdb = os.path.join(os.path.dirname(openmm.app.__file__), "data", "test.pdb")
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        assert main(["simulate", pdb, "--time", "500ps", "--replicas", "4", "--tf32",
                     "--platform", "CUDA", "--seed", "5", "--no-progress",
                     "-o", str(tmp_path / "run")]) == 0
        assert torch.backends.cuda.matmul.allow_tf32 == before  # simulate put it back
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["cuda_graphs"] == "captured", summary["cuda_graphs"]
    assert summary["tf32"] is True and summary["jit_optimized"] is True
    assert summary["steps"] == 50 and summary["replicas"] == 4
    rg = summary["rg_mean_per_replica_nm"]
    assert len(rg) == 4 and all(0.3 < v < 3.0 for v in rg), rg


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_simulate_on_cuda_with_half_precision_networks(tmp_path, dtype):
    """``cgml simulate --network-dtype float16|bfloat16`` on CUDA: the reduced-precision
    static-pair module is still captured as a CUDA graph, the run stays finite with chains of
    sensible size and bonds, and the summary records the dtype."""
    import json
    import os

    import openmm.app

    from openmm_cgml.cli import main

    pdb = os.path.join(os.path.dirname(openmm.app.__file__), "data", "test.pdb")
    assert main(["simulate", pdb, "--time", "2ns", "--replicas", "4", "--network-dtype", dtype,
                 "--model", "protein-residue-100ps", "--platform", "CUDA", "--seed", "5",
                 "--no-progress", "-o", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["cuda_graphs"] == "captured", summary["cuda_graphs"]
    assert summary["network_dtype"] == dtype and summary["steps"] == 20
    rg = summary["rg_mean_per_replica_nm"]
    assert len(rg) == 4 and all(0.5 < v < 1.5 for v in rg), rg
    assert 0.4 < summary["bond_mean_nm"] < 0.8 and summary["bond_max_nm"] < 3.0
