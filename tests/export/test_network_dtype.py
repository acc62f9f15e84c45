"""Reduced-precision dynamics/score networks (``network_dtype``): same step to rounding."""

from __future__ import annotations

import pytest
import torch

from openmm_cgml.export import build_step_module, export_step_module
from openmm_cgml.export.analytic import HarmonicLangevinModel
from openmm_cgml.export.export import PAIR_PRUNE_MIN_PAIRS
from openmm_cgml.export.step import StepModule
from openmm_cgml.models import CGModel, ModelConfig
from openmm_cgml.models.model import NETWORK_DTYPES

N = 12


def _model(family: str) -> CGModel:
    torch.manual_seed(0)
    cfg = ModelConfig(family=family, hidden=32, layers=2, score_layers=2, embed_layers=1,
                      history_length=3, num_rbf=8, cutoff_nm=1.0, noise_levels=4,
                      refine_levels=3, refine_sampler="ancestral")
    return CGModel(cfg, {"dt": 10.0, "velocity_rms": 0.02, "acceleration_rms": 0.001,
                         "displacement_rms": 0.2}).eval()


def _step(net: CGModel, static: bool = True, network_dtype: str = "float32") -> StepModule:
    bonds = torch.stack([torch.arange(N - 1), torch.arange(1, N)])
    emb = torch.randn(N, 32, generator=torch.Generator().manual_seed(1))
    return StepModule(net, emb, torch.full((N,), 50.0), bonds, torch.zeros(N, dtype=torch.long),
                      history_length=3, timestep_ps=10.0, sigmas=[0.3, 0.1, 0.03],
                      steps_per_level=1, step_size=1e-5, sampler="ancestral",
                      static_graph=static, network_dtype=network_dtype)


def _inputs(noise_draws: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(2)
    steps = torch.randn(N, 3, generator=g)
    x = torch.cumsum(0.38 * steps / steps.norm(dim=-1, keepdim=True), 0)
    hist = torch.stack([x + 0.02 * torch.randn(N, 3, generator=g) for _ in range(3)])
    return (hist, torch.randn(noise_draws, N, 3, generator=g), torch.zeros(N, 3),
            torch.zeros(3, 3))


@pytest.mark.parametrize("family", ["plain", "equivariant"])
@pytest.mark.parametrize("dtype,rel", [("float16", 0.01), ("bfloat16", 0.05)])
def test_reduced_precision_step_is_the_float32_step_to_rounding(family, dtype, rel):
    """Cast networks: weights in ``dtype``, embedding net and the step's inputs/outputs float32;
    the next positions differ from float32 by far less than the step moves the beads."""
    full = _step(_model(family))
    half_net = _model(family).set_network_dtype(NETWORK_DTYPES[dtype])
    assert half_net.network_dtype == NETWORK_DTYPES[dtype]
    assert next(half_net.embedding.parameters()).dtype == torch.float32
    assert half_net.score_net.edges.rbf.centers.dtype == torch.float32  # geometry stays
    half = _step(half_net, network_dtype=dtype)
    assert half.network_dtype == dtype
    args = _inputs(full.noise_draws)
    with torch.no_grad():
        ref, out = full(*args), half(*args)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    moved = (ref - args[0][-1]).norm(dim=-1).mean()
    diff = (out - ref).norm(dim=-1).mean()
    assert diff < rel * moved, (float(diff), float(moved))
    assert diff > 0  # really computed in another precision


def test_float32_network_dtype_is_the_identity():
    """``set_network_dtype(float32)`` on a float32 model changes nothing (bit for bit)."""
    a = _step(_model("plain"))
    b = _step(_model("plain").set_network_dtype(torch.float32))
    args = _inputs(a.noise_draws)
    with torch.no_grad():
        torch.testing.assert_close(a(*args), b(*args), rtol=0, atol=0)


def test_scripted_half_module_matches_eager():
    """TorchScript keeps the casts: the scripted float16 module gives the eager result."""
    eager = _step(_model("plain").set_network_dtype(torch.float16), network_dtype="float16")
    scripted = torch.jit.script(eager)
    assert scripted.network_dtype == "float16" and scripted.graph_safe
    args = _inputs(eager.noise_draws)
    with torch.no_grad():
        torch.testing.assert_close(scripted(*args), eager(*args), rtol=1e-5, atol=1e-5)


def test_export_network_dtype_choices_and_errors():
    """export_step_module(network_dtype=...) records it; unknown names and models without
    ``set_network_dtype`` are refused with the accepted values named."""
    import os

    import openmm.app as app

    from openmm_cgml.mapping import coarse_grain

    villin = coarse_grain(os.path.join(os.path.dirname(app.__file__), "data", "test.pdb"),
                          scheme="residue")
    cfg = ModelConfig(hidden=16, layers=1, score_layers=1, embed_layers=1, history_length=3,
                      noise_levels=3, refine_levels=1)
    net = CGModel(cfg, {"dt": 10.0, "velocity_rms": 0.005, "acceleration_rms": 1e-5,
                        "displacement_rms": 0.05})
    module = export_step_module(net, villin, network_dtype="bfloat16")
    assert module.network_dtype == "bfloat16"
    assert export_step_module(net, villin).network_dtype == "float32"
    assert next(net.score_net.parameters()).dtype == torch.float32  # the caller's model kept
    with pytest.raises(ValueError, match="float32, bfloat16, float16"):
        build_step_module(net, villin, network_dtype="float64")
    with pytest.raises(ValueError, match="set_network_dtype"):
        build_step_module(HarmonicLangevinModel(), villin, network_dtype="float16")
    with pytest.raises(ValueError, match="network dtype"):
        CGModel(cfg).set_network_dtype(torch.int32)


@pytest.mark.parametrize("family", ["plain", "equivariant"])
def test_folded_layer_norms_are_the_same_function(family):
    """fold_layer_norms: LayerNorm(Linear) with the centring folded into the weights gives
    the LayerNorm step to float64 rounding (random LayerNorm affine parameters)."""
    import copy

    from openmm_cgml.models.layers import MLP, InteractionLayer, fold_layer_norms

    net = _model(family).double()
    for m in net.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.weight.data.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(4))
            m.bias.data.normal_(generator=torch.Generator().manual_seed(5))
    folded = copy.deepcopy(net)
    count = fold_layer_norms(folded)
    normed = [m for m in net.modules() if isinstance(m, InteractionLayer)
              or (isinstance(m, MLP) and isinstance(m.norm, torch.nn.LayerNorm))]
    assert count == len(normed) > 0
    full = torch.jit.script(_step(net.float()).double())
    fast = torch.jit.script(_step(folded.float()).double())
    args = tuple(t.double() for t in _inputs(full.noise_draws))
    with torch.no_grad():
        torch.testing.assert_close(fast(*args), full(*args), rtol=1e-12, atol=1e-12)


def test_export_fold_norms_choice():
    """``fold_norms``: forced on/off, both the same step in float32 to rounding; automatic:
    off for one small molecule, on from PAIR_PRUNE_MIN_PAIRS static pairs (replicas)."""
    import os

    import openmm.app as app

    from openmm_cgml.mapping import coarse_grain

    villin = coarse_grain(os.path.join(os.path.dirname(app.__file__), "data", "test.pdb"),
                          scheme="residue")
    net = _model("plain")
    folded = build_step_module(net, villin, fold_norms=True)
    plain = build_step_module(net, villin, fold_norms=False)
    assert not build_step_module(net, villin).model.score_net.layers[0].fold_norm
    many = build_step_module(net, [villin] * 45, static_graph=True)  # 45 x 1,122 pairs
    assert many.pairs.shape[1] >= PAIR_PRUNE_MIN_PAIRS and many.model.score_net.layers[0].fold_norm
    assert folded.model.score_net.layers[0].fold_norm
    assert not plain.model.score_net.layers[0].fold_norm
    assert not net.score_net.layers[0].fold_norm  # the caller's model is left as it was
    x0 = torch.tensor(villin.bead_positions()[0], dtype=torch.float32)
    hist = x0.unsqueeze(0).repeat(3, 1, 1) + 0.01 * torch.randn(
        3, villin.num_beads, 3, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(folded.noise_draws, villin.num_beads, 3,
                        generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = folded(hist, noise, torch.zeros_like(x0), torch.zeros(3, 3))
        b = plain(hist, noise, torch.zeros_like(x0), torch.zeros(3, 3))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", ["plain", "equivariant"])
@pytest.mark.parametrize("static", [True, False])
def test_sorted_aggregation_gives_the_same_step(family, static):
    """set_sorted_aggregation: edges sorted by target and summed as segments give the
    atomic-scatter step to float64 rounding (static pairs and radius search, scripted)."""
    import copy

    from openmm_cgml.models.graph_ops import segment_sum, sort_by_target
    from openmm_cgml.models.networks import set_sorted_aggregation

    # the helpers: empty segments sum to 0, offsets partition the sorted edges
    ei = torch.tensor([[0, 1, 2, 3], [3, 0, 3, 0]])
    sorted_ei, _, vec, offsets = sort_by_target(ei, torch.zeros(4, dtype=torch.long),
                                                torch.arange(4.0).unsqueeze(-1), 5)
    assert offsets.tolist() == [0, 2, 2, 2, 4, 4]
    assert segment_sum(vec, offsets).squeeze(-1).tolist() == [4.0, 0.0, 0.0, 2.0, 0.0]
    net = _model(family).double()
    fast = copy.deepcopy(net)
    assert set_sorted_aggregation(fast) == 2
    full = torch.jit.script(_step(net.float(), static=static).double())
    seg = torch.jit.script(_step(fast.float(), static=static).double())
    args = tuple(t.double() for t in _inputs(full.noise_draws))
    with torch.no_grad():
        torch.testing.assert_close(seg(*args), full(*args), rtol=1e-12, atol=1e-12)
