"""Python rollout: reproducibility, the integrator's noise stream, batching, history rebuild."""

from __future__ import annotations

import os

import numpy as np
import openmm.app as app
import pytest
import torch

from openmm_cgml.export import export_step_module
from openmm_cgml.export.analytic import HarmonicLangevinModel
from openmm_cgml.mapping import coarse_grain
from openmm_cgml.simulation import NoiseStream, history_from_state, rollout

VILLIN = os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")


@pytest.fixture(scope="module")
def villin():
    return coarse_grain(VILLIN, scheme="residue")


@pytest.fixture(scope="module")
def module(villin):
    model = HarmonicLangevinModel(history_length=3)
    return export_step_module(model, villin, sigmas=[0.02, 0.01], steps_per_level=2,
                              step_size=1e-6)


def test_noise_stream_is_torch_cpu_generator_randn():
    s = NoiseStream(42)
    a, b = s.draw(3, 5), s.draw(3, 5)
    g = torch.Generator().manual_seed(42)
    torch.testing.assert_close(a, torch.randn(3, 5, 3, generator=g))
    torch.testing.assert_close(b, torch.randn(3, 5, 3, generator=g))
    assert a.dtype == torch.float32
    for bad in (0, -1, 2**31):
        with pytest.raises(ValueError, match="seed must be"):
            NoiseStream(bad)


def test_history_from_state_is_straight_line():
    x = np.arange(6.0).reshape(2, 3)
    v = np.ones((2, 3))
    h = history_from_state(x, v, 4, 0.5).numpy()
    assert h.shape == (4, 2, 3)
    np.testing.assert_allclose(h[-1], x)
    np.testing.assert_allclose(h[0], x - 1.5)
    np.testing.assert_allclose(history_from_state(x, None, 2, 1.0).numpy(), [x, x])


def test_rollout_reproducible_and_equal_to_manual_loop(villin, module):
    h0 = history_from_state(villin.bead_positions()[0], None, 3, module.timestep_ps)
    a = rollout(module, h0, 20, seed=11)
    b = rollout(module, h0, 20, seed=11)
    c = rollout(module, h0, 20, seed=12)
    assert a.shape == (21, 35, 3)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4
    # the same steps by hand with the integrator's stream
    stream = NoiseStream(11)
    h = h0.float()
    zeros = torch.zeros(35, 3)
    box = torch.zeros(3, 3)
    for step in range(20):
        new = module(h, stream.draw(module.noise_draws, 35), zeros, box)
        h = torch.cat([h[1:], new[None]])
        np.testing.assert_array_equal(a[step + 1], new.double().numpy())
    # record_interval keeps every n-th frame
    np.testing.assert_array_equal(rollout(module, h0, 20, seed=11, record_interval=5), a[::5])


def test_explicit_noise_matches_seeded_rollout(villin, module):
    h0 = history_from_state(villin.bead_positions()[0], None, 3, module.timestep_ps)
    stream = NoiseStream(5)
    noise = torch.stack([stream.draw(module.noise_draws, 35) for _ in range(8)])
    np.testing.assert_array_equal(rollout(module, h0, 8, noise=noise),
                                  rollout(module, h0, 8, seed=5))
    with pytest.raises(ValueError, match="noise must be"):
        rollout(module, h0, 9, noise=noise)
    with pytest.raises(ValueError, match="seed"):
        rollout(module, h0, 3)
    with pytest.raises(ValueError, match=r"history must be \[3, 35, 3\]"):
        rollout(module, h0[:2], 3, seed=1)


def test_batched_rollout_equals_single_runs(villin):
    """Replicas in one batched module see exactly their own seed's noise."""
    model = HarmonicLangevinModel(history_length=3)
    kw = dict(sigmas=[0.02], steps_per_level=2, step_size=1e-6)
    single = export_step_module(model, villin, **kw)
    batched = export_step_module(model, [villin] * 3, **kw)
    x = villin.bead_positions()[0]
    h0 = history_from_state(x, None, 3, single.timestep_ps)
    seeds = [3, 4, 5]
    out = rollout(batched, torch.cat([h0] * 3, dim=1), 15, seed=seeds)
    assert out.shape == (16, 105, 3)
    for r, seed in enumerate(seeds):
        ref = rollout(single, h0, 15, seed=seed)
        np.testing.assert_allclose(out[:, 35 * r:35 * (r + 1)], ref, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="3 molecules but 2 seeds"):
        rollout(batched, torch.cat([h0] * 3, dim=1), 2, seed=[1, 2])


def _static_cgmodel_module(mappings, device):
    """A small untrained CGModel (seeded) exported with the static graph (graph_safe)."""
    from openmm_cgml.models import CGModel, ModelConfig

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=16, layers=2, score_layers=1, embed_layers=1, history_length=3,
                      noise_levels=4, refine_levels=2, refine_sigma_max=0.5,
                      refine_sampler="ancestral")
    net = CGModel(cfg, {"dt": 10.0, "velocity_rms": 0.02, "acceleration_rms": 0.001,
                        "displacement_rms": 0.2})
    return export_step_module(net, mappings, device=device, static_graph=True)


def test_cuda_graph_option_on_cpu(villin):
    """A graph-safe module on the CPU runs ordinary calls by default; asking for a CUDA graph
    there (or for a module that is not graph-safe) is refused by name."""
    static = _static_cgmodel_module(villin, "cpu")
    assert static.graph_safe
    h0 = history_from_state(villin.bead_positions()[0], None, 3, static.timestep_ps)
    auto = rollout(static, h0, 3, seed=2)
    np.testing.assert_array_equal(auto, rollout(static, h0, 3, seed=2, cuda_graph=False))
    with pytest.raises(ValueError, match="graph_safe"):
        rollout(static, h0, 3, seed=2, cuda_graph=True)


@pytest.mark.gpu
def test_rollout_replays_a_cuda_graph_like_ordinary_calls(villin, monkeypatch):
    """On CUDA a graph-safe module is captured once and replayed every step (counted), and
    the trajectory equals ordinary calls with the same seeds (to float rounding: scatter
    sums on the GPU are not bit-reproducible); the noise streams are not shifted."""
    if not torch.cuda.is_available():
        pytest.skip("needs torch with CUDA")
    module = _static_cgmodel_module([villin, villin], "cuda")
    x0 = villin.bead_positions()[0]
    h0 = history_from_state(np.concatenate([x0, x0 + 5.0]), None, 3, module.timestep_ps)
    replays = []
    real = torch.cuda.CUDAGraph.replay
    monkeypatch.setattr(torch.cuda.CUDAGraph, "replay",
                        lambda self: replays.append(1) or real(self))
    graphed = rollout(module, h0, 12, seed=[3, 4])
    assert len(replays) == 12
    plain = rollout(module, h0, 12, seed=[3, 4], cuda_graph=False)
    assert len(replays) == 12
    np.testing.assert_allclose(graphed, plain, atol=1e-4)
    assert np.abs(graphed[1:] - graphed[:-1]).max() > 1e-3  # the beads moved


def test_tf32_matmul_is_put_back_whatever_happens():
    import torch

    from openmm_cgml.simulation import tf32_matmul

    before = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        with tf32_matmul(True):
            assert torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32
        with pytest.raises(RuntimeError), tf32_matmul(True):
            raise RuntimeError("inside")
        assert not torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True  # already on: stays on
        with tf32_matmul(False):
            assert torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
