"""Bond-graph correlated noise (``openmm_cgml.models.noise``) and its use in the step module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openmm_cgml.export import export_step_module
from openmm_cgml.export.step import StepModule
from openmm_cgml.models import CGModel, ModelConfig
from openmm_cgml.models.noise import bond_laplacian, correlation_entries, correlation_factor

N = 12
CHAIN = np.stack([np.arange(N - 1), np.arange(1, N)], axis=1)


def test_independent_noise_is_the_identity():
    for lam in (0.0, float("inf")):
        np.testing.assert_array_equal(correlation_factor(CHAIN, N, lam), np.eye(N))


def test_correlated_noise_keeps_unit_variance_and_favours_collective_modes():
    k = correlation_factor(CHAIN, N, 0.4)
    c = k @ k.T
    np.testing.assert_allclose(np.diag(c), 1.0, atol=1e-12)  # each bead keeps its variance
    neighbours = c[np.arange(N - 1), np.arange(1, N)]
    assert np.all(neighbours > 0.3) and np.all(neighbours < 1.0)
    assert c[0, N - 1] < neighbours.min()  # correlation decays along the chain
    w, v = np.linalg.eigh(bond_laplacian(CHAIN, N))
    modal = np.einsum("im,ij,jm->m", v, c, v)  # variance per Laplacian mode
    assert modal[1] > 2.0 > 1.0 > 0.5 > modal[-1]  # slowest internal mode up, stretching down
    assert np.isclose(modal.sum(), N)  # the total is what independent noise gives


def test_entries_are_block_diagonal_over_molecules():
    bonds = torch.tensor([[0, 1, 2, 4, 5], [1, 2, 3, 5, 6]])  # a 4-chain and a 3-chain
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    rows, cols, w = correlation_entries(bonds, batch, 0.5)
    dense = np.zeros((7, 7))
    dense[rows.numpy(), cols.numpy()] = w.numpy()
    np.testing.assert_allclose(dense[:4, :4], correlation_factor(CHAIN[:3], 4, 0.5))
    np.testing.assert_allclose(dense[4:, 4:], correlation_factor(CHAIN[:2], 3, 0.5))
    assert not dense[:4, 4:].any() and not dense[4:, :4].any()
    with pytest.raises(ValueError, match="joins two molecules"):
        correlation_entries(torch.tensor([[3], [4]]), batch, 0.5)


def _model(**kw) -> CGModel:
    torch.manual_seed(0)
    cfg = ModelConfig(hidden=16, layers=1, score_layers=1, embed_layers=1, history_length=3,
                      num_rbf=8, cutoff_nm=1.0, noise_levels=4, refine_levels=3,
                      refine_sampler="ancestral", refine_sigma_max=0.3, **kw)
    return CGModel(cfg, {"dt": 10.0, "velocity_rms": 0.02, "acceleration_rms": 0.002,
                         "displacement_rms": 0.2}).eval()


def _step(net: CGModel, sigmas: list[float], lam: float, widen: bool = False) -> StepModule:
    bonds = torch.as_tensor(CHAIN.T.copy())
    emb = torch.randn(N, 16, generator=torch.Generator().manual_seed(1))
    return StepModule(net, emb, torch.full((N,), 50.0), bonds, torch.zeros(N, dtype=torch.long),
                      history_length=3, timestep_ps=10.0, sigmas=sigmas, steps_per_level=1,
                      step_size=1e-5, sampler="ancestral", widen=widen, noise_correlation=lam)


def _inputs(draws: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(2)
    x = torch.cumsum(0.38 * torch.nn.functional.normalize(torch.randn(N, 3, generator=g)), 0)
    hist = torch.stack([x + 0.02 * torch.randn(N, 3, generator=g) for _ in range(3)])
    return hist, torch.randn(draws, N, 3, generator=g), torch.zeros(N, 3), torch.zeros(3, 3)


@torch.no_grad()
def test_step_samples_the_acceleration_with_correlated_noise():
    """Without refinement the correlated step is the independent step fed ``K @ noise[0]``."""
    net = _model()
    corr, indep = _step(net, [], 0.4), _step(net, [], 0.0)
    hist, eps, force, box = _inputs(1)
    k = torch.as_tensor(correlation_factor(CHAIN, N, 0.4), dtype=torch.float32)
    torch.testing.assert_close(corr(hist, eps, force, box),
                               indep(hist, (k @ eps[0]).unsqueeze(0), force, box))
    assert not torch.allclose(corr(hist, eps, force, box), indep(hist, eps, force, box))


@torch.no_grad()
def test_widened_correlated_step_draws_one_more_frame_and_scripts():
    net = _model(noise_correlation=0.4, refine_widen=True)
    module = export_step_module(net, _mapping())
    assert module.noise_correlation == pytest.approx(0.4)
    assert module.noise_draws == 1 + 3 + 1  # acceleration, 3 ladder levels, the widening
    plain = export_step_module(net, _mapping(), noise_correlation=0.0)
    assert plain.noise_draws == 4
    n = module.num_particles
    g = torch.Generator().manual_seed(3)
    x = torch.cumsum(0.38 * torch.nn.functional.normalize(torch.randn(n, 3, generator=g)), 0)
    hist = torch.stack([x + 0.02 * torch.randn(n, 3, generator=g) for _ in range(3)])
    eps, force, box = torch.randn(5, n, 3, generator=g), torch.zeros(n, 3), torch.zeros(3, 3)
    a = module(hist, eps, force, box)
    eps2 = eps.clone()
    eps2[-1] += 1.0  # the last draw widens the candidate: the step must depend on it
    assert torch.isfinite(a).all() and not torch.allclose(a, module(hist, eps2, force, box))


def _mapping():
    import os

    from openmm import app

    from openmm_cgml.mapping import coarse_grain

    return coarse_grain(os.path.join(os.path.dirname(app.__file__), "data", "test.pdb"),
                        scheme="residue")


def test_config_rejects_a_negative_correlation():
    with pytest.raises(ValueError, match="noise_correlation"):
        ModelConfig(noise_correlation=-1.0)
