"""CGMLForce: TorchScript energy models as OpenMM forces (analytic checks)."""

import numpy as np
import openmm
import pytest
import torch
from openmm import unit
from plugin_modules import HarmonicEnergy, PairHarmonicEnergy

from openmm_cgml.plugin import CGMLForce, deserialize

PLATFORMS = ["Reference", "CPU"]


def make_system(n: int, mass: float = 100.0) -> openmm.System:
    system = openmm.System()
    for _ in range(n):
        system.addParticle(mass)
    return system


def energy_and_forces(context, groups=-1):
    state = context.getState(getEnergy=True, getForces=True, groups=groups)
    e = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    f = state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
    return e, f


@pytest.mark.parametrize("platform", PLATFORMS)
def test_harmonic_energy_and_forces(platform):
    n, k, x0 = 8, 150.0, 0.5
    system = make_system(n)
    system.addForce(CGMLForce(torch.jit.script(HarmonicEnergy(k=k, x0=x0))))
    context = openmm.Context(system, openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName(platform))
    x = np.random.default_rng(0).normal(size=(n, 3))
    context.setPositions(x)
    e, f = energy_and_forces(context)
    assert e == pytest.approx(0.5 * k * ((x - x0) ** 2).sum(), rel=1e-6)
    np.testing.assert_allclose(f, -k * (x - x0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_minimization_reaches_analytic_minimum(platform):
    n = 5
    system = make_system(n)
    system.addForce(CGMLForce(torch.jit.script(HarmonicEnergy(k=100.0, x0=0.25))))
    context = openmm.Context(system, openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName(platform))
    context.setPositions(np.random.default_rng(1).normal(size=(n, 3)))
    openmm.LocalEnergyMinimizer.minimize(context, 1e-3, 1000)
    x = context.getState(getPositions=True).getPositions(asNumpy=True)._value
    np.testing.assert_allclose(x, 0.25, atol=1e-3)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_mixed_with_standard_forces(platform):
    """A learned bond model plus an OpenMM HarmonicBondForce: energies and forces add up."""
    n, kb, r0 = 6, 500.0, 0.38
    system = make_system(n)
    cgml = CGMLForce(torch.jit.script(PairHarmonicEnergy(n, k=kb, r0=r0)))
    cgml.setForceGroup(1)
    system.addForce(cgml)
    bonds = openmm.HarmonicBondForce()
    for i in range(n - 1):
        bonds.addBond(i, i + 1, r0, kb)
    bonds.setForceGroup(2)
    system.addForce(bonds)
    context = openmm.Context(system, openmm.LangevinMiddleIntegrator(300, 1.0, 0.002),
                             openmm.Platform.getPlatformByName(platform))
    x = np.cumsum(np.random.default_rng(2).normal(0.4, 0.05, size=(n, 3)), axis=0)
    context.setPositions(x)
    e1, f1 = energy_and_forces(context, {1})
    e2, f2 = energy_and_forces(context, {2})
    e, f = energy_and_forces(context)
    assert e1 == pytest.approx(e2, rel=1e-5)
    np.testing.assert_allclose(f1, f2, rtol=1e-4, atol=1e-4)
    assert e == pytest.approx(e1 + e2, rel=1e-6)
    np.testing.assert_allclose(f, f1 + f2, rtol=1e-5, atol=1e-4)
    # dynamics with any integrator runs and stays finite
    context.getIntegrator().step(50)
    assert np.isfinite(context.getState(getPositions=True).getPositions(asNumpy=True)._value).all()


def test_force_serialization_round_trip():
    force = CGMLForce(torch.jit.script(HarmonicEnergy(k=3.0)))
    force.setForceGroup(4)
    force.setUsesPeriodicBoundaryConditions(True)
    xml = openmm.XmlSerializer.serialize(force)
    base = openmm.XmlSerializer.deserialize(xml)
    assert isinstance(base, openmm.Force)
    copy = deserialize(xml)
    assert isinstance(copy, CGMLForce)
    assert copy.getModelBytes() == force.getModelBytes()
    assert copy.getForceGroup() == 4
    assert copy.usesPeriodicBoundaryConditions()
    import copy as copy_module
    import pickle

    for clone in (copy_module.deepcopy(force), pickle.loads(pickle.dumps(force))):
        assert isinstance(clone, CGMLForce)
        assert clone.getModelBytes() == force.getModelBytes() and clone.getForceGroup() == 4
    # a System holding the force round-trips too, and evaluates identically
    system = make_system(3)
    system.addForce(CGMLForce(torch.jit.script(HarmonicEnergy(k=3.0))))
    system2 = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    x = np.arange(9.0).reshape(3, 3) * 0.1
    energies = []
    for s in (system, system2):
        context = openmm.Context(s, openmm.VerletIntegrator(0.001),
                                 openmm.Platform.getPlatformByName("Reference"))
        context.setPositions(x)
        energies.append(energy_and_forces(context)[0])
    assert energies[0] == pytest.approx(energies[1], rel=1e-12)


def test_force_particle_count_mismatch():
    system = make_system(4)
    system.addForce(CGMLForce(torch.jit.script(PairHarmonicEnergy(5))))
    with pytest.raises(openmm.OpenMMException, match="exported for 5 particles but the System"):
        openmm.Context(system, openmm.VerletIntegrator(0.001),
                       openmm.Platform.getPlatformByName("Reference"))


def test_force_wrong_signature():
    class ThreeArgs(torch.nn.Module):
        def forward(self, positions: torch.Tensor, box: torch.Tensor,
                    extra: torch.Tensor) -> torch.Tensor:
            return positions.sum()

    with pytest.raises(openmm.OpenMMException, match="forward\\(\\) takes 3 argument"):
        CGMLForce(torch.jit.script(ThreeArgs()))


def test_force_nonscalar_energy():
    class PerAtom(torch.nn.Module):
        def forward(self, positions: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
            return (positions**2).sum(dim=1)

    system = make_system(3)
    system.addForce(CGMLForce(torch.jit.script(PerAtom())))
    context = openmm.Context(system, openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(np.zeros((3, 3)))
    with pytest.raises(openmm.OpenMMException, match="must return one number"):
        context.getState(getEnergy=True)
