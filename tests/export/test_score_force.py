"""The score net as a CGMLForce: OpenMM's forces equal kT * score of the exported module."""

from __future__ import annotations

import os

import numpy as np
import openmm
import openmm.app as app
import pytest
import torch

from openmm_cgml.export import export_score_force
from openmm_cgml.export.analytic import BOLTZMANN_KJ_PER_K, HarmonicLangevinModel
from openmm_cgml.mapping import coarse_grain

VILLIN = os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")


def test_score_force_equals_kT_score_and_runs_in_openmm():
    pytest.importorskip("openmm_cgml.plugin", reason="plugin not built",
                                 exc_type=ImportError)
    from openmm_cgml.simulation import create_force, create_system

    mapping = coarse_grain(VILLIN)
    model = HarmonicLangevinModel(history_length=2)
    module = export_score_force(model, mapping, temperature_K=310.0, sigma_nm=0.01)
    x = torch.tensor(mapping.bead_positions()[0], dtype=torch.float32)
    box = torch.zeros(3, 3)
    # analytic model: score = F_bond / kT, so kT * score = harmonic bond forces
    expected = model.bond_force(x, torch.as_tensor(mapping.cg_bonds.T), box)
    torch.testing.assert_close(module.forces(x, box), expected * (310.0 * BOLTZMANN_KJ_PER_K)
                               / model.kT, rtol=1e-5, atol=1e-4)
    # autograd of the surrogate energy gives the same forces
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(module(xg, box), xg)
    torch.testing.assert_close(-grad, module.forces(x, box))
    system = create_system(mapping)
    system.addForce(create_force(module))
    assert system.getNumForces() == 1
    context = openmm.Context(system, openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName("CPU"))
    context.setPositions(x.double().numpy())
    forces = context.getState(getForces=True).getForces(asNumpy=True)._value
    np.testing.assert_allclose(forces, module.forces(x, box).numpy(), rtol=1e-5, atol=1e-3)
