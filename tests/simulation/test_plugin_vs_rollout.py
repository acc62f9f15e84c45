"""The compiled CGMLIntegrator and the python rollout give the same trajectory for a seed.

Both draw ``torch.randn((M, N, 3))`` per step from a CPU generator seeded with the seed
(:class:`openmm_cgml.simulation.NoiseStream` mirrors the integrator), feed the same
TorchScript module, and keep the history in the module's dtype, so on the CPU platform the
trajectories agree to float rounding.
"""

from __future__ import annotations

import os

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u
import pytest
import torch

from openmm_cgml.export import export_step_module
from openmm_cgml.export.analytic import HarmonicLangevinModel
from openmm_cgml.mapping import coarse_grain
from openmm_cgml.simulation import create_integrator, create_system, history_from_state, rollout

plugin = pytest.importorskip("openmm_cgml.plugin", reason="compiled plugin not built",
                             exc_type=ImportError)

VILLIN = os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")


@pytest.fixture(scope="module")
def villin():
    return coarse_grain(VILLIN, scheme="residue")


def _cgmodel(**kw):
    from openmm_cgml.models import CGModel, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=16, layers=2, score_layers=1, embed_layers=1, history_length=3,
                      noise_levels=4, refine_levels=2, refine_steps=2, refine_step_size=1e-5,
                      **kw)
    return CGModel(cfg, {"dt": 10.0, "velocity_rms": 0.01, "acceleration_rms": 1e-4,
                         "displacement_rms": 0.1})


def _plugin_run(module, mapping, history, n_steps, seed):
    system = create_system(mapping)
    integrator = create_integrator(module, seed=seed)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"))
    context.setPositions(history[-1] * u.nanometer)
    integrator.setHistory(history)
    frames = [context.getState(getPositions=True).getPositions(asNumpy=True)._value]
    for _ in range(n_steps):
        integrator.step(1)
        frames.append(context.getState(getPositions=True).getPositions(asNumpy=True)._value)
    return np.asarray(frames), integrator, context


@pytest.mark.parametrize("which", ["analytic", "cgmodel", "correlated"])
def test_plugin_equals_python_rollout(villin, which):
    if which == "analytic":
        module = export_step_module(HarmonicLangevinModel(history_length=3), villin,
                                    sigmas=[0.02, 0.01], steps_per_level=2, step_size=1e-6)
    elif which == "cgmodel":
        module = export_step_module(_cgmodel(), villin)
    else:  # bond-graph correlated noise, widened ancestral walk: one extra draw per step
        module = export_step_module(_cgmodel(noise_correlation=0.3, refine_sampler="ancestral",
                                             refine_widen=True, refine_sigma_max=0.05), villin)
        assert module.noise_draws == 1 + 2 + 1
    rng = np.random.default_rng(0)
    x0 = villin.bead_positions()[0]
    history = np.stack([x0 + 0.005 * rng.normal(size=x0.shape) for _ in range(3)])
    n_steps, seed = 12, 1234
    plug, integrator, _ = _plugin_run(module, villin, history, n_steps, seed)
    py = rollout(module, history, n_steps, seed=seed)
    assert plug.shape == py.shape == (n_steps + 1, 35, 3)
    assert np.abs(plug[-1] - plug[0]).max() > 1e-3  # it moved
    np.testing.assert_allclose(plug, py, rtol=0, atol=2e-5)
    # and a different seed gives a different trajectory
    other = rollout(module, history, n_steps, seed=seed + 1)
    assert np.abs(other[-1] - plug[-1]).max() > 1e-4
    np.testing.assert_allclose(integrator.getHistory()[-1], plug[-1], atol=1e-6)


def test_history_rebuilt_from_positions_and_velocities(villin):
    """After setPositions/setVelocities the plugin's history matches history_from_state."""
    module = export_step_module(HarmonicLangevinModel(history_length=3), villin, sigmas=[])
    system = create_system(villin)
    integrator = create_integrator(module, seed=3)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"))
    x0 = villin.bead_positions()[0]
    v0 = np.random.default_rng(1).normal(scale=0.1, size=x0.shape)
    context.setPositions(x0 * u.nanometer)
    context.setVelocities(v0 * u.nanometer / u.picosecond)
    expected = history_from_state(x0, v0, 3, module.timestep_ps).numpy()
    np.testing.assert_allclose(integrator.getHistory(), expected, atol=1e-6)
    integrator.step(5)
    plug = context.getState(getPositions=True).getPositions(asNumpy=True)._value
    py = rollout(module, expected, 5, seed=3)
    np.testing.assert_allclose(plug, py[-1], atol=2e-5)


def test_simulation_with_reporters_readable_by_mdtraj(villin, tmp_path):
    import mdtraj

    module = export_step_module(HarmonicLangevinModel(history_length=2), villin,
                                sigmas=[0.01], steps_per_level=1, step_size=1e-6)
    system = create_system(villin)
    assert system.getNumParticles() == 35
    np.testing.assert_allclose(
        [system.getParticleMass(i).value_in_unit(u.amu) for i in range(35)], villin.bead_masses)
    integrator = create_integrator(module, seed=9)
    assert integrator.getStepSize().value_in_unit(u.picosecond) == pytest.approx(module.timestep_ps)
    sim = app.Simulation(villin.topology, system, integrator,
                         openmm.Platform.getPlatformByName("CPU"))
    sim.context.setPositions(villin.bead_positions()[0] * u.nanometer)
    dcd, pdb = tmp_path / "t.dcd", tmp_path / "t.pdb"
    sim.reporters.append(app.DCDReporter(str(dcd), 5))
    sim.reporters.append(app.PDBReporter(str(pdb), 10))
    sim.reporters.append(app.StateDataReporter(str(tmp_path / "s.csv"), 5, step=True, time=True))
    sim.step(20)
    sim.reporters.clear()
    traj = mdtraj.load(str(dcd), top=str(pdb))
    assert traj.n_frames == 4 and traj.n_atoms == 35
    last = sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value
    np.testing.assert_allclose(traj.xyz[-1], last, atol=2e-3)  # DCD stores float32 Angstrom
    assert mdtraj.load(str(pdb)).n_frames == 2
    t = sim.context.getState().getTime().value_in_unit(u.picosecond)
    assert t == pytest.approx(20 * module.timestep_ps)


def test_combine_mappings_copies_each_topology_in_order(villin):
    """combine_mappings: one Topology holding every molecule's beads and bonds in order,
    positions stacked; replicas of one mapping give identical blocks."""
    from openmm_cgml.simulation import combine_mappings

    shifted = villin.bead_positions()[0] + 3.0
    top, xyz = combine_mappings([villin, villin], [villin.bead_positions()[0], shifted])
    n = villin.num_beads
    assert top.getNumAtoms() == 2 * n and top.getNumChains() == 2 * villin.topology.getNumChains()
    assert top.getNumBonds() == 2 * villin.topology.getNumBonds()
    names = [r.name for r in top.residues()]
    assert names == 2 * [r.name for r in villin.topology.residues()]
    bonds = sorted((a.index, b.index) for a, b in top.bonds())
    first = sorted((a.index, b.index) for a, b in villin.topology.bonds())
    assert bonds == sorted(first + [(i + n, j + n) for i, j in first])
    np.testing.assert_allclose(xyz, np.concatenate([villin.bead_positions()[0], shifted]))
    with pytest.raises(ValueError, match="no mappings"):
        combine_mappings([])
