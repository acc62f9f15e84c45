"""CGMLIntegrator inside openmm.app.Simulation with the standard reporters, plus error cases."""

import io
import json

import numpy as np
import openmm
import pytest
import torch
from openmm import app, unit
from plugin_modules import HarmonicEnergy, LinearHistoryStep, OUStep

import openmm_cgml
import openmm_cgml.plugin as plugin
from openmm_cgml.plugin import CGMLForce, CGMLIntegrator


def bead_topology(n: int) -> app.Topology:
    top = app.Topology()
    chain = top.addChain()
    for i in range(n):
        res = top.addResidue("BEA", chain)
        top.addAtom(f"B{i}", None, res)
    return top


def bead_system(n: int) -> openmm.System:
    system = openmm.System()
    for _ in range(n):
        system.addParticle(100.0)
    return system


@pytest.fixture
def ou_module():
    return torch.jit.script(OUStep(8, a=0.9, s=0.02, mu=1.0, precision="float32"))


def test_simulation_with_reporters(tmp_path, ou_module):
    n = 8
    integrator = openmm_cgml.CGMLIntegrator(ou_module, seed=11)
    sim = app.Simulation(bead_topology(n), bead_system(n), integrator,
                         openmm.Platform.getPlatformByName("CPU"))
    sim.context.setPositions(np.ones((n, 3)) * unit.nanometer)
    log = tmp_path / "log.csv"
    sim.reporters.append(app.DCDReporter(str(tmp_path / "traj.dcd"), 5))
    sim.reporters.append(app.PDBReporter(str(tmp_path / "traj.pdb"), 10))
    sim.reporters.append(app.StateDataReporter(str(log), 5, step=True, time=True,
                                               potentialEnergy=True, kineticEnergy=True,
                                               temperature=True, speed=True))
    sim.reporters.append(app.CheckpointReporter(str(tmp_path / "ckpt.chk"), 10))
    sim.step(40)
    assert sim.currentStep == 40
    lines = log.read_text().strip().splitlines()
    assert len(lines) == 1 + 8
    assert lines[-1].startswith("40,40.0")  # step, time in ps (timestep 1 ps)
    import mdtraj

    traj = mdtraj.load_dcd(str(tmp_path / "traj.dcd"), top=str(tmp_path / "traj.pdb"))
    assert traj.n_frames == 8 and traj.n_atoms == n
    final = sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value
    np.testing.assert_allclose(traj.xyz[-1], final, atol=2e-3)  # DCD stores float32 Angstrom

    # restart from the CheckpointReporter file (written at step 40) == uninterrupted run
    sim.reporters.clear()
    sim.step(15)
    uninterrupted = sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value
    integrator2 = CGMLIntegrator(ou_module, seed=999)
    sim2 = app.Simulation(bead_topology(n), bead_system(n), integrator2,
                          openmm.Platform.getPlatformByName("CPU"))
    sim2.loadCheckpoint(str(tmp_path / "ckpt.chk"))
    assert sim2.currentStep == 40
    sim2.step(15)
    restarted = sim2.context.getState(getPositions=True).getPositions(asNumpy=True)._value
    np.testing.assert_array_equal(restarted, uninterrupted)


def test_minimize_energy_with_cgml_force_then_integrate():
    n = 8
    system = bead_system(n)
    system.addForce(CGMLForce(torch.jit.script(HarmonicEnergy(k=50.0, x0=1.0))))
    # drift step: x + c F makes the learned force visible to the step module
    module = torch.jit.script(LinearHistoryStep(n, [1.0], shift=0.0))
    sim = app.Simulation(bead_topology(n), system, CGMLIntegrator(module),
                         openmm.Platform.getPlatformByName("Reference"))
    sim.context.setPositions(np.random.default_rng(0).normal(size=(n, 3)))
    sim.minimizeEnergy(tolerance=1e-3)
    x = sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value
    np.testing.assert_allclose(x, 1.0, atol=1e-3)
    sim.step(3)  # history rebuilt from the minimized positions (zero velocity): stays put
    np.testing.assert_allclose(
        sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value, x, atol=1e-12
    )


def test_minimize_energy_without_forces_is_noop(ou_module):
    n = 8
    sim = app.Simulation(bead_topology(n), bead_system(n), CGMLIntegrator(ou_module),
                         openmm.Platform.getPlatformByName("Reference"))
    x = np.random.default_rng(1).normal(size=(n, 3))
    sim.context.setPositions(x)
    sim.minimizeEnergy()
    np.testing.assert_allclose(
        sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value, x, atol=1e-12
    )


def test_set_history_accepts_quantities_and_lists(ou_module):
    n = 8
    integrator = CGMLIntegrator(ou_module)
    context = openmm.Context(bead_system(n), integrator,
                             openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(np.zeros((n, 3)))
    frames = np.random.default_rng(2).normal(size=(2, n, 3))
    integrator.setHistory(frames * 10 * unit.angstrom)  # Quantity converted to nm
    np.testing.assert_allclose(integrator.getHistory(), frames, atol=1e-6)  # float32 module
    vec3 = [[openmm.Vec3(*row) for row in f] * unit.nanometer for f in frames]
    integrator.setHistory(vec3)
    np.testing.assert_allclose(integrator.getHistory(), frames, atol=1e-6)
    pos = context.getState(getPositions=True, getVelocities=True)
    np.testing.assert_allclose(pos.getPositions(asNumpy=True)._value, frames[-1], atol=1e-12)
    np.testing.assert_allclose(pos.getVelocities(asNumpy=True)._value, frames[1] - frames[0],
                               atol=1e-12)


# ------------------------------------------------------------------ errors


class NoAttrs(torch.nn.Module):
    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        return history[-1]


class TwoArgs(torch.nn.Module):
    history_length: int
    noise_draws: int
    timestep_ps: float
    num_particles: int

    def __init__(self) -> None:
        super().__init__()
        self.history_length = 1
        self.noise_draws = 0
        self.timestep_ps = 1.0
        self.num_particles = 3

    def forward(self, history: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return history[-1]


class WrongShape(TwoArgs):
    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        return history[-1][:2]


class Raises(TwoArgs):
    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        if bool(history.abs().sum() >= 0):
            raise RuntimeError("model exploded on purpose")
        return history[-1]


def test_error_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        CGMLIntegrator(tmp_path / "nope.pt")


def test_cpp_from_file(tmp_path, ou_module):
    path = tmp_path / "step.pt"
    torch.jit.save(ou_module, str(path))
    integrator = plugin.cgmlswig.CGMLIntegrator.fromFile(str(path))
    assert integrator.getNumParticles() == 8
    energy = tmp_path / "energy.pt"
    torch.jit.save(torch.jit.script(HarmonicEnergy()), str(energy))
    assert plugin.cgmlswig.CGMLForce.fromFile(str(energy)).getPrecision() == "float64"
    with pytest.raises(openmm.OpenMMException, match="cannot open the model file"):
        plugin.cgmlswig.CGMLIntegrator.fromFile(str(tmp_path / "missing.pt"))


def test_error_corrupt_bytes(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(openmm.OpenMMException, match="could not be loaded as a TorchScript"):
        CGMLIntegrator(bad)
    with pytest.raises(openmm.OpenMMException, match="empty"):
        CGMLIntegrator(b"")


def test_error_state_dict_is_not_torchscript(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(3)}, str(path))
    with pytest.raises(openmm.OpenMMException, match="not TorchScript|TorchScript module"):
        CGMLIntegrator(path)


def test_error_eager_module_and_wrong_type():
    with pytest.raises(TypeError, match="torch.jit.script"):
        CGMLIntegrator(OUStep(3))
    with pytest.raises(TypeError, match="path, bytes, or torch.jit.ScriptModule"):
        CGMLIntegrator(3.5)


def test_error_missing_attributes():
    with pytest.raises(openmm.OpenMMException, match="no attribute 'history_length'"):
        CGMLIntegrator(torch.jit.script(NoAttrs()))


def test_error_wrong_signature():
    with pytest.raises(openmm.OpenMMException, match="takes 2 argument.*4 are required"):
        CGMLIntegrator(torch.jit.script(TwoArgs()))


def test_error_particle_count_mismatch(ou_module):
    integrator = CGMLIntegrator(ou_module)
    with pytest.raises(openmm.OpenMMException, match="exported for 8 beads but the System has 5"):
        openmm.Context(bead_system(5), integrator)


def test_error_wrong_output_shape_and_module_exception():
    for module, pattern in ((WrongShape(), r"shape \[2, 3\].*must have shape \[3, 3\]"),
                            (Raises(), "(?s)failed at step 1.*exploded on purpose")):
        integrator = CGMLIntegrator(torch.jit.script(module))
        context = openmm.Context(bead_system(3), integrator,
                                 openmm.Platform.getPlatformByName("Reference"))
        context.setPositions(np.zeros((3, 3)))
        with pytest.raises(openmm.OpenMMException, match=pattern):
            integrator.step(1)
        assert context.getStepCount() == 0


def test_error_set_history_misuse(ou_module):
    integrator = CGMLIntegrator(ou_module)
    with pytest.raises(openmm.OpenMMException, match="not bound to a Context"):
        integrator.setHistory(np.zeros((2, 8, 3)))
    openmm.Context(bead_system(8), integrator, openmm.Platform.getPlatformByName("Reference"))
    with pytest.raises(ValueError, match=r"shape \[2, 8, 3\]"):
        integrator.setHistory(np.zeros((3, 8, 3)))
    bad = np.zeros((2, 8, 3))
    bad[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        integrator.setHistory(bad)


def test_error_step_before_context_and_step_size(ou_module):
    integrator = CGMLIntegrator(ou_module)
    with pytest.raises(openmm.OpenMMException, match="before the integrator was bound"):
        integrator.step(1)
    with pytest.raises(openmm.OpenMMException, match="fixed by the model"):
        integrator.setStepSize(0.5)
    integrator.setStepSize(1.0)  # the model's own value is accepted
    with pytest.raises(ValueError, match="seed"):
        CGMLIntegrator(ou_module, seed=-1)


def test_error_constraints_refused(ou_module):
    system = bead_system(8)
    system.addConstraint(0, 1, 0.4)
    with pytest.raises(openmm.OpenMMException, match="constraints"):
        openmm.Context(system, CGMLIntegrator(ou_module))


def test_torch_version_change_gives_rebuild_error(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    with pytest.raises(ImportError, match=r"built against torch .* but torch 0.0.1 is installed; "
                       r"rebuild with: pip install --no-build-isolation --force-reinstall"):
        plugin._check_build()


def test_build_info_recorded():
    info = plugin.build_info()
    assert info["torch_version"] == torch.__version__
    assert info["openmm_version"] == openmm.__version__
    json.dumps(info)


def test_model_bytes_embedded_not_referenced(tmp_path, ou_module):
    path = tmp_path / "m.pt"
    torch.jit.save(ou_module, str(path))
    integrator = CGMLIntegrator(path)
    path.unlink()  # the file is gone; the integrator still works and serializes
    context = openmm.Context(bead_system(8), integrator,
                             openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(np.zeros((8, 3)))
    integrator.step(2)
    buf = io.BytesIO()
    torch.jit.save(ou_module, buf)
    assert len(integrator.getModelBytes()) > 0
    assert "CGMLIntegrator" in openmm.XmlSerializer.serialize(integrator)
