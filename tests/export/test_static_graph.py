"""Static pairs (CUDA-graph capturable step): same results as the radius search, no syncs."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from openmm_cgml.export import build_step_module, export_step_module, geometry
from openmm_cgml.export.analytic import HarmonicLangevinModel
from openmm_cgml.export.export import resolve_static_graph, static_pair_count
from openmm_cgml.export.step import StepModule
from openmm_cgml.models import CGModel, ModelConfig, build_edges
from openmm_cgml.models.graph_ops import all_pairs, minimum_image, minimum_image_unchecked

CUTOFF = 1.0  # nm
N_MOL = 10    # beads per molecule


def _chain_bonds(n: int, offset: int = 0) -> torch.Tensor:
    return torch.stack([torch.arange(n - 1), torch.arange(1, n)]) + offset


def _two_molecules():
    """Two 10-bead chains: bonds [2, 18], batch [20]."""
    bonds = torch.cat([_chain_bonds(N_MOL), _chain_bonds(N_MOL, N_MOL)], 1)
    batch = torch.repeat_interleave(torch.arange(2), N_MOL)
    return bonds, batch


def _history(shift: float, dtype: torch.dtype, seed: int = 0, k: int = 3) -> torch.Tensor:
    """[k, 20, 3] nm: two random-walk chains (0.38 nm bonds) inside ~[0, 3] nm, the second
    shifted by ``shift`` nm along x (0: overlapping molecules, 20: far apart)."""
    g = torch.Generator().manual_seed(seed)
    steps = torch.randn(2, N_MOL, 3, generator=g, dtype=torch.float64)
    steps = 0.38 * steps / steps.norm(dim=-1, keepdim=True)
    x = torch.cumsum(steps, 1) + 1.5
    x[1, :, 0] += shift
    x = x.reshape(2 * N_MOL, 3)
    frames = [x + 0.01 * torch.randn(x.shape, generator=g, dtype=torch.float64)
              for _ in range(k)]
    return torch.stack(frames).to(dtype)


def _model(family: str, dtype: torch.dtype) -> CGModel:
    torch.manual_seed(0)
    cfg = ModelConfig(family=family, hidden=16, layers=2, score_layers=2, embed_layers=1,
                      history_length=3, num_rbf=8, cutoff_nm=CUTOFF, noise_levels=4,
                      refine_levels=2, refine_steps=2)
    net = CGModel(cfg, {"dt": 10.0, "velocity_rms": 0.02, "acceleration_rms": 0.001,
                        "displacement_rms": 0.2})
    return net.to(dtype).eval()


def _step(net: CGModel, static: bool, sampler: str, capacity: int = 0) -> StepModule:
    bonds, batch = _two_molecules()
    p = next(net.parameters())
    emb = torch.randn(2 * N_MOL, 16, generator=torch.Generator().manual_seed(1)).to(p)
    return StepModule(net, emb, torch.full((2 * N_MOL,), 50.0, device=p.device),
                      bonds.to(p.device), batch.to(p.device),
                      history_length=3, timestep_ps=10.0, sigmas=[0.05, 0.02],
                      steps_per_level=2, step_size=1e-5, sampler=sampler,
                      widen=sampler == "ddim", static_graph=static, pair_capacity=capacity)


BOXES = {"none": [0.0, 0.0, 0.0], "periodic": [3.1, 2.9, 3.3]}


# ------------------------------------------------------------------------------ all_pairs
def test_all_pairs_exact_set():
    """Both directions, no self pairs, no bonded pairs (either direction), never across
    molecules, also for molecules whose beads are interleaved in the batch."""
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    bonds = torch.tensor([[0, 4], [1, 3]])  # 0-1 (molecule 0), 4-3 (molecule 1)
    pairs = all_pairs(batch, bonds)
    assert pairs.dtype == torch.long and pairs.shape[0] == 2
    got = [tuple(p) for p in pairs.t().tolist()]
    expected = {(j, i) for i in range(7) for j in range(7)
                if i != j and batch[i] == batch[j]} - {(0, 1), (1, 0), (3, 4), (4, 3)}
    assert len(got) == len(set(got)) and set(got) == expected
    assert got == sorted(got, key=lambda p: (p[1], p[0]))  # sorted by target, then source
    # interleaved molecules and no bonds
    inter = torch.tensor([1, 0, 1, 0, 1])
    got = {tuple(p) for p in all_pairs(inter, torch.zeros(2, 0, dtype=torch.long)).t().tolist()}
    assert got == {(j, i) for i in range(5) for j in range(5) if i != j and inter[i] == inter[j]}
    # the closed-form count the export decides with agrees with the pairs it builds
    assert static_pair_count(batch, bonds) == pairs.shape[1] == 3 * 2 + 4 * 3 - 4
    assert static_pair_count(inter, torch.zeros(2, 0, dtype=torch.long)) == 6 + 2


def test_build_edges_with_pairs_contains_the_radius_edges():
    bonds, batch = _two_molecules()
    pos = _history(0.0, torch.float64)[-1]
    box = torch.zeros(3, 3, dtype=torch.float64)
    ei, et, vec = build_edges(pos, bonds, batch, box, CUTOFF)
    ei_s, et_s, vec_s = build_edges(pos, bonds, batch, box, CUTOFF, all_pairs(batch, bonds))
    assert ei_s.shape[1] == 2 * N_MOL * (N_MOL - 1)  # every pair of each molecule, once
    edges = {(a, b): t for (a, b), t in zip(ei.t().tolist(), et.tolist(), strict=True)}
    static = {(a, b): t for (a, b), t in zip(ei_s.t().tolist(), et_s.tolist(), strict=True)}
    assert len(static) == ei_s.shape[1]
    assert all(static[e] == t for e, t in edges.items())
    assert sum(et_s.tolist()) == 2 * bonds.shape[1]
    torch.testing.assert_close(vec_s, pos[ei_s[0]] - pos[ei_s[1]])


# ------------------------------------------------------------------- same dynamics / score
@pytest.mark.parametrize("family", ["plain", "equivariant"])
@pytest.mark.parametrize("box_name", list(BOXES))
def test_dynamics_and_score_with_pairs_match(family, box_name):
    net = _model(family, torch.float64)
    bonds, batch = _two_molecules()
    pairs = all_pairs(batch, bonds)
    h = _history(0.5, torch.float64, seed=2)
    box = torch.diag(torch.tensor(BOXES[box_name], dtype=torch.float64))
    emb = torch.randn(2 * N_MOL, 16, dtype=torch.float64)
    with torch.no_grad():
        ref = net.dynamics(emb, h, bonds, batch, box)
        out = net.dynamics(emb, h, bonds, batch, box, pairs)
        for a, b in zip(out, ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
        x = h[-1] + 0.02 * torch.randn_like(h[-1])
        sigma = torch.tensor(0.05, dtype=torch.float64)
        torch.testing.assert_close(net.score(x, sigma, ref[2], h, bonds, batch, box, pairs),
                                   net.score(x, sigma, ref[2], h, bonds, batch, box),
                                   rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family", ["plain", "equivariant"])
@pytest.mark.parametrize("sampler", ["langevin", "ddim", "ancestral", "posterior", "analytic"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_static_step_module_matches_radius_search(family, sampler, dtype, tol):
    """Same next positions with and without static pairs, with and without a periodic box,
    for two molecules far apart and overlapping (pairs never cross molecules)."""
    net = _model(family, dtype)
    static, dynamic = _step(net, True, sampler), _step(net, False, sampler)
    assert static.graph_safe and not dynamic.graph_safe
    assert static.pairs.shape == (2, 2 * N_MOL * (N_MOL - 1) - 2 * 2 * (N_MOL - 1))
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(static.noise_draws, 2 * N_MOL, 3, generator=g).to(dtype)
    force = torch.randn(2 * N_MOL, 3, generator=g).to(dtype)
    with torch.no_grad():
        for shift in (0.0, 0.4, 20.0):
            for box_name, lengths in BOXES.items():
                if box_name == "periodic" and shift > 1.0:
                    continue  # far apart is the same as overlapping in a 3 nm box
                h = _history(shift, dtype, seed=4)
                box = torch.diag(torch.tensor(lengths, dtype=dtype))
                out = static(h, noise, force, box)
                ref = dynamic(h, noise, force, box)
                assert torch.isfinite(out).all()
                torch.testing.assert_close(out, ref, rtol=tol, atol=tol,
                                           msg=f"shift {shift}, box {box_name}")


def test_scripted_static_module_and_graph_safe_attribute():
    """torch.jit.script keeps the results and exposes graph_safe as a plain attribute."""
    net = _model("equivariant", torch.float32)
    static, dynamic = _step(net, True, "langevin"), _step(net, False, "langevin")
    s_static, s_dynamic = torch.jit.script(static), torch.jit.script(dynamic)
    assert s_static.graph_safe is True and s_dynamic.graph_safe is False
    h = _history(0.4, torch.float32, seed=5)
    noise = torch.randn(static.noise_draws, 2 * N_MOL, 3,
                        generator=torch.Generator().manual_seed(5))
    args = (h, noise, torch.zeros(2 * N_MOL, 3), torch.diag(torch.tensor([3.1, 2.9, 3.3])))
    with torch.no_grad(), torch.jit.optimized_execution(False):
        torch.testing.assert_close(s_static(*args), static(*args), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(s_static(*args), s_dynamic(*args), rtol=1e-5, atol=1e-5)
    # a model without a ``pairs`` argument still scripts when static pairs are off
    bonds, batch = _two_molecules()
    plain = StepModule(HarmonicLangevinModel(history_length=3), torch.full((20, 1), 50.0),
                       torch.full((20,), 50.0), bonds, batch, history_length=3,
                       timestep_ps=0.05, sigmas=[], steps_per_level=1, step_size=1e-5)
    assert torch.jit.script(plain).graph_safe is False


# host-device syncs and data-dependent shapes in the scripted graph (checked on CPU)
_SYNCING = {"aten::item", "aten::Bool", "aten::Float", "aten::Int", "aten::is_nonzero",
            "aten::nonzero", "aten::one_hot", "aten::unique_consecutive", "aten::unique",
            "aten::repeat_interleave", "aten::masked_select", "aten::tolist",
            "aten::searchsorted", "aten::isin"}


def _nodes(block):
    for node in block.nodes():
        yield node
        for sub in node.blocks():
            yield from _nodes(sub)


def _syncing_ops(module: torch.jit.ScriptModule) -> set[str]:
    """Syncing ops that ``forward`` can reach once every call is inlined and the branches
    that are constant (e.g. ``pairs is None`` with a tensor) are folded away."""
    graph = module.forward.graph.copy()
    for _ in range(100):  # callees may come back un-inlined (optimized_execution(False))
        torch._C._jit_pass_inline(graph)
        if not any(n.kind() in ("prim::CallMethod", "prim::CallFunction")
                   for n in _nodes(graph)):
            break
    else:
        raise AssertionError("could not inline forward")
    for p in ("_jit_pass_peephole", "_jit_pass_constant_propagation", "_jit_pass_dce"):
        getattr(torch._C, p)(graph)
    # raising on bad input shapes is fine: the shapes are fixed when captured
    return {n.kind() for n in _nodes(graph)} & _SYNCING


@pytest.mark.parametrize("family", ["plain", "equivariant"])
def test_static_forward_has_no_syncing_ops(family):
    net = _model(family, torch.float32)
    assert _syncing_ops(torch.jit.script(_step(net, True, "ancestral"))) == set()
    # the detector sees the radius search of the dynamic module
    assert "aten::nonzero" in _syncing_ops(torch.jit.script(_step(net, False, "ancestral")))


# --------------------------------------------------------------------------- minimum image
def _old_export_minimum_image(d: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """The previous implementation (with a host-side ``has_box`` test)."""
    if not bool((box[0, 0] * box[1, 1] * box[2, 2]).abs() > 0.0):
        return d
    d = d - torch.round(d[..., 2:3] / box[2, 2]) * box[2]
    d = d - torch.round(d[..., 1:2] / box[1, 1]) * box[1]
    return d - torch.round(d[..., 0:1] / box[0, 0]) * box[0]


def test_sync_free_minimum_image_matches_the_checked_one():
    g = torch.Generator().manual_seed(6)
    d = (torch.rand(500, 3, generator=g, dtype=torch.float64) - 0.5) * 20.0
    zero = torch.zeros(3, 3, dtype=torch.float64)
    ortho = torch.diag(torch.tensor([3.0, 4.0, 5.0], dtype=torch.float64))
    tric = torch.tensor([[3.0, 0, 0], [1.0, 4.0, 0], [-1.2, 1.5, 5.0]], dtype=torch.float64)
    partial = torch.diag(torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64))
    # models.graph_ops (orthorhombic)
    for box in (zero, ortho):
        torch.testing.assert_close(minimum_image_unchecked(d, box), minimum_image(d, box),
                                   rtol=0, atol=0)
    for bad in (tric, partial, -ortho):
        with pytest.raises(RuntimeError):
            minimum_image(d, bad)
        assert torch.isnan(minimum_image_unchecked(d, bad)).all()
    # export.geometry (reduced triclinic)
    for box in (zero, ortho, tric, partial):
        torch.testing.assert_close(geometry.minimum_image(d, box),
                                   _old_export_minimum_image(d, box), rtol=0, atol=0)
    wrapped = geometry.minimum_image(d, tric)
    assert (wrapped[:, 2].abs() <= 2.5 + 1e-12).all()
    h = torch.stack([torch.zeros_like(d), d])
    torch.testing.assert_close(geometry.finite_difference_velocity(h, tric, 2.0), wrapped / 2.0)


# ------------------------------------------------------------------------------ CUDA graph
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs torch with CUDA")
@pytest.mark.parametrize("family", ["plain", "equivariant"])
@pytest.mark.parametrize("capacity", [0, 100])
def test_static_step_module_is_captured_in_a_cuda_graph(family, capacity):
    """The scripted static module (every pair, or the 100 closest of 144 per call) runs
    without syncs and replays from a CUDA graph with the results of an uncaptured call (and,
    with every pair, of the radius-search module)."""
    net = _model(family, torch.float32).cuda()
    static = torch.jit.script(_step(net, True, "langevin", capacity))
    dynamic = torch.jit.script(_step(net, False, "langevin"))
    g = torch.Generator().manual_seed(8)

    def inputs(seed: int) -> list[torch.Tensor]:
        noise = torch.randn(static.noise_draws, 2 * N_MOL, 3, generator=g)
        box = torch.diag(torch.tensor([3.1, 2.9, 3.3]))
        return [t.cuda() for t in (_history(0.4, torch.float32, seed=seed), noise,
                                   torch.randn(2 * N_MOL, 3, generator=g), box)]

    buffers = inputs(9)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(side):
        for _ in range(4):  # let the profiling executor settle on its optimised plan
            static(*buffers)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            static(*buffers)
            with torch.cuda.graph(graph):
                out = static(*buffers)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    for seed in (10, 11):
        new = inputs(seed)
        for buf, value in zip(buffers, new, strict=True):
            buf.copy_(value)
        graph.replay()
        with torch.no_grad():
            torch.testing.assert_close(out, static(*new), rtol=1e-5, atol=1e-5)
            if capacity == 0:
                torch.testing.assert_close(out, dynamic(*new), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------ export API
def _villin_pdb() -> str:
    import openmm.app as app

    return os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")


@pytest.fixture(scope="module")
def villin():
    from openmm_cgml.mapping import coarse_grain

    return coarse_grain(_villin_pdb(), scheme="residue")


def test_export_static_graph_choice(villin, monkeypatch):
    import openmm_cgml.export.export as export_mod

    net = _model("plain", torch.float32)
    assert not export_step_module(net, villin, sigmas=[]).graph_safe  # auto on CPU: off
    forced = export_step_module(net, [villin, villin], sigmas=[], static_graph=True)
    assert forced.graph_safe and forced.pairs.shape[1] == 2 * (35 * 34 - 2 * 34)
    assert not build_step_module(net, villin, static_graph=False).graph_safe
    # auto on CUDA (decided without touching a GPU)
    bonds, batch = _two_molecules()
    assert resolve_static_graph(None, net, batch, bonds, "cuda")
    assert not resolve_static_graph(None, net, batch, bonds, "cpu")
    big = torch.zeros(257, dtype=torch.long)
    assert not resolve_static_graph(None, net, big, torch.zeros(2, 0, dtype=torch.long), "cuda")
    harmonic = HarmonicLangevinModel(history_length=3)
    assert not resolve_static_graph(None, harmonic, batch, bonds, "cuda")
    with pytest.raises(ValueError, match="pairs"):
        export_step_module(harmonic, villin, sigmas=[], static_graph=True)
    monkeypatch.setattr(export_mod, "STATIC_GRAPH_MAX_PAIRS", 1000)
    with pytest.raises(ValueError, match="cap"):  # villin: 35 * 34 - 2 * 34 = 1122 pairs
        export_step_module(net, villin, sigmas=[], static_graph=True)
    monkeypatch.setattr(export_mod, "STATIC_GRAPH_AUTO_MAX_PAIRS", 2 * 10 * 9 - 2 * 18 - 1)
    assert not resolve_static_graph(None, net, batch, bonds, "cuda")  # one pair too many


def test_export_cli_static_graph_flag(tmp_path, capsys):
    from openmm_cgml.cli import main
    from openmm_cgml.export import load_step_module
    from openmm_cgml.models import save_checkpoint

    ckpt = save_checkpoint(_model("plain", torch.float32), tmp_path / "ckpt")
    out = tmp_path / "m.pt"
    for flag, expected in (("--static-graph", True), ("--no-static-graph", False)):
        capsys.readouterr()
        assert main(["export", str(ckpt), "-s", _villin_pdb(), "-o", str(out), flag]) == 0
        assert json.loads(capsys.readouterr().out)["static_graph"] is expected
        assert load_step_module(out).graph_safe is expected


def test_replicas_are_embedded_once_with_the_same_rows(villin, monkeypatch):
    """bead_embeddings: a mapping listed several times is embedded once (one fine graph of
    the distinct molecules) and its rows repeated; the rows equal a separate embedding."""
    from openmm_cgml.export import export as export_mod
    from openmm_cgml.mapping import coarse_grain

    net = _model("plain", torch.float32)
    other = coarse_grain(_villin_pdb(), scheme="residue")  # equal, but a different object
    alone = export_mod.bead_embeddings(net, villin)
    seen = []
    real = export_mod.fine_graph_tensors
    monkeypatch.setattr(export_mod, "fine_graph_tensors",
                        lambda ms, device="cpu": seen.append(len(ms)) or real(ms, device))
    both = export_mod.bead_embeddings(net, [villin, other, villin, villin])
    assert seen == [2] and both.shape == (4 * 35, alone.shape[1])
    for block in torch.split(both, 35):
        torch.testing.assert_close(block, alone, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- pair capacity
def _near_count(h: torch.Tensor) -> int:
    """Directed non-bonded pairs of one molecule closer than CUTOFF in the last frame."""
    bonds, batch = _two_molecules()
    pairs = all_pairs(batch, bonds)
    x = h[-1]
    return int(((x[pairs[0]] - x[pairs[1]]).norm(dim=-1) < CUTOFF).sum())


@pytest.mark.parametrize("family", ["plain", "equivariant"])
def test_pair_capacity_keeps_the_step_while_it_holds_the_pairs_within_the_cutoff(family):
    """The closest pair_capacity pairs per call: the same step as the radius search when the
    capacity covers the pairs within the cutoff of every call; a capacity below that changes
    it (the option is really used). Scripted, it stays free of syncing ops."""
    dtype = torch.float64
    net = _model(family, dtype)
    bonds, batch = _two_molecules()
    p = next(net.parameters())
    emb = torch.randn(2 * N_MOL, 16, generator=torch.Generator().manual_seed(1)).to(p)

    def step(static: bool, capacity: int) -> StepModule:
        return StepModule(net, emb, torch.full((2 * N_MOL,), 50.0, dtype=dtype), bonds, batch,
                          history_length=3, timestep_ps=10.0, sigmas=[0.05, 0.02],
                          steps_per_level=1, step_size=1e-5, sampler="ancestral",
                          static_graph=static, pair_capacity=capacity)

    h = 2.0 * _history(0.4, dtype, seed=4)  # stretched chains: part of the pairs are near
    near = _near_count(h)
    total = 2 * N_MOL * (N_MOL - 1) - 2 * 2 * (N_MOL - 1)
    assert 0 < near < total
    g = torch.Generator().manual_seed(3)
    noise = 0.01 * torch.randn(3, 2 * N_MOL, 3, generator=g, dtype=dtype)
    force = torch.zeros(2 * N_MOL, 3, dtype=dtype)
    box = torch.zeros(3, 3, dtype=dtype)
    ref = step(False, 0)
    room = near + (total - near) // 2  # margin for the candidates, which move a little
    roomy = step(True, room)
    tight = step(True, near // 3)
    assert roomy.pair_capacity == room and step(True, total + 5).pair_capacity == 0
    kept = roomy.nearest_pairs(h[-1], box)
    assert kept.shape == (2, room)
    x = h[-1]
    assert int(((x[kept[0]] - x[kept[1]]).norm(dim=-1) < CUTOFF).sum()) == near
    with torch.no_grad():
        torch.testing.assert_close(roomy(h, noise, force, box), ref(h, noise, force, box),
                                   rtol=1e-10, atol=1e-10)
        assert not torch.allclose(tight(h, noise, force, box), ref(h, noise, force, box))
    assert _syncing_ops(torch.jit.script(roomy)) == set()
    with pytest.raises(ValueError, match="static_graph"):
        step(False, 10)
    with pytest.raises(ValueError, match=">= 0"):
        step(True, -1)


def test_export_pair_capacity_choice(villin, monkeypatch):
    """Auto: off below PAIR_PRUNE_MIN_PAIRS; above, 1.5 x the pairs within the cutoff in the
    mapping's own structure, per copy; recorded as a module attribute."""
    import openmm_cgml.export.export as export_mod

    net = _model("plain", torch.float32)
    near = export_mod.pairs_within_cutoff([villin], CUTOFF)
    assert 0 < near < 35 * 34 - 2 * 34
    assert export_mod.pairs_within_cutoff([villin, villin], CUTOFF) == 2 * near
    forced = export_step_module(net, [villin, villin], sigmas=[], static_graph=True)
    assert forced.pair_capacity == 0  # 2,244 pairs: below the automatic threshold
    monkeypatch.setattr(export_mod, "PAIR_PRUNE_MIN_PAIRS", 1000)
    auto = export_step_module(net, [villin, villin], sigmas=[], static_graph=True)
    assert auto.pair_capacity == int(np.ceil(1.5 * 2 * near))
    assert export_step_module(net, [villin, villin], sigmas=[], static_graph=True,
                              pair_capacity=0).pair_capacity == 0
    with pytest.raises(ValueError, match="static_graph"):
        build_step_module(net, villin, static_graph=False, pair_capacity=100)
