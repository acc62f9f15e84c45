"""Neighbour search, edges, equivariance and TorchScript compatibility of the models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from openmm_cgml.datasets import WindowDataset, compute_statistics
from openmm_cgml.datasets.synthetic import write_synthetic_chain
from openmm_cgml.models import CGModel, ModelConfig, build_edges, radius_graph

TINY = dict(hidden=16, layers=2, score_layers=2, embed_layers=1, history_length=4,
            num_rbf=8, refine_levels=2, refine_steps=2, cutoff_nm=1.0)


def _brute_pairs(pos, cutoff, batch, box=None):
    pos = pos.double().numpy()
    n = len(pos)
    out = set()
    for i in range(n):
        for j in range(n):
            if i == j or batch[i] != batch[j]:
                continue
            d = pos[j] - pos[i]
            if box is not None:
                d -= box * np.round(d / box)
            if np.linalg.norm(d) < cutoff:
                out.add((j, i))
    return out


@pytest.mark.parametrize("periodic", [False, True])
def test_radius_graph_dense_and_cell_list_agree_with_brute_force(periodic):
    g = torch.Generator().manual_seed(0)
    n = 300
    pos = torch.rand(n, 3, generator=g, dtype=torch.float64) * 4.0
    pos[:40] = 1.0 + 0.05 * torch.rand(40, 3, generator=g)  # dense clump: 39 neighbours each
    batch = torch.cat([torch.zeros(150, dtype=torch.long), torch.ones(150, dtype=torch.long)])
    box = torch.diag(torch.tensor([4.0, 4.0, 4.0], dtype=torch.float64)) if periodic \
        else torch.zeros(3, 3, dtype=torch.float64)
    ref = _brute_pairs(pos, 0.7, batch.numpy(), np.full(3, 4.0) if periodic else None)
    for method in ("dense", "cell"):
        e = radius_graph(pos, 0.7, batch, box, method=method)
        got = set(map(tuple, e.t().tolist()))
        assert len(got) == e.shape[1], "duplicate pairs"
        assert got == ref, method
    counts = torch.bincount(radius_graph(pos, 0.7, batch, box, method="cell")[1], minlength=n)
    assert int(counts[:40].min()) >= 39  # no neighbour cap


def test_build_edges_types_and_no_duplicates():
    pos = torch.tensor([[0.0, 0, 0], [0.4, 0, 0], [0.8, 0, 0], [3.0, 0, 0]])
    bonds = torch.tensor([[0, 2], [1, 3]])  # bonds 0-1 (short) and 2-3 (longer than cutoff)
    batch = torch.zeros(4, dtype=torch.long)
    ei, et, vec = build_edges(pos, bonds, batch, torch.zeros(3, 3), cutoff=1.0)
    pairs = {(int(a), int(b)): int(t) for a, b, t in zip(ei[0], ei[1], et, strict=True)}
    assert len(pairs) == ei.shape[1]
    assert pairs == {(1, 0): 1, (0, 1): 1, (3, 2): 1, (2, 3): 1,
                     (2, 0): 0, (0, 2): 0, (2, 1): 0, (1, 2): 0}
    torch.testing.assert_close(vec, pos[ei[0]] - pos[ei[1]])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("geo")
    write_synthetic_chain(root / "a.h5", num_beads=7, num_frames=24, seed=1)
    write_synthetic_chain(root / "b.h5", num_beads=5, num_frames=24, seed=2)
    ds = WindowDataset(root, history_length=4)
    return ds, compute_statistics(ds)


def _random_rotation(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@pytest.mark.parametrize("family", ["equivariant", "plain"])
def test_equivariance(tiny_data, family):
    ds, stats = tiny_data
    torch.manual_seed(0)
    model = CGModel(ModelConfig(family=family, **TINY), stats).double().eval()
    b = ds.collate([0, 30]).to("cpu", torch.float64)
    rot = _random_rotation(3)
    shift = torch.tensor([1.3, -0.7, 2.1], dtype=torch.float64)
    frames_r = b.frames @ rot.T + shift
    emb = model.embed(b.atom_element, b.atom_residue, b.atom_role, b.atom_mass, b.atom_bonds,
                      b.bond_types, b.atom_to_bead, b.num_beads)
    bump = 0.05 * torch.sin(torch.arange(b.num_beads * 3.0, dtype=torch.float64)).reshape(-1, 3)
    sigma = torch.tensor(0.1, dtype=torch.float64)

    def run(frames):
        mean, std, latent = model.dynamics(emb, frames[:4], b.cg_bonds, b.batch, b.box)
        x = frames[4] + bump if frames is b.frames else frames[4] + bump @ rot.T
        score = model.score(x, sigma, latent, frames[:4], b.cg_bonds, b.batch, b.box)
        return mean, std, score

    mean, std, score = run(b.frames)
    mean_r, std_r, score_r = run(frames_r)

    def rel(a, ref):
        return float((a - ref).norm() / ref.norm())

    if family == "equivariant":
        assert rel(mean_r, mean @ rot.T) < 1e-4
        assert rel(score_r, score @ rot.T) < 1e-4
        assert rel(std_r, std) < 1e-4
        assert torch.allclose(std[:, 0], std[:, 2])  # isotropic
    else:  # the plain family is not equivariant: the test above can fail
        assert rel(mean_r, mean @ rot.T) > 1e-3
        # ... but translation invariant
        mean_t, std_t, _ = model.dynamics(emb, b.frames[:4] + shift, b.cg_bonds, b.batch, b.box)
        assert rel(mean_t, mean) < 1e-8 and rel(std_t, std) < 1e-8
    assert bool((std > model.config.min_std * float(model.acceleration_rms)).all())


@pytest.mark.parametrize("family", ["plain", "equivariant"])
def test_torchscript_matches_eager(tiny_data, family):
    ds, stats = tiny_data
    torch.manual_seed(1)
    model = CGModel(ModelConfig(family=family, **TINY), stats).eval()
    scripted = torch.jit.script(model)
    b = ds.collate([1, 25, 39])
    args = (b.atom_element, b.atom_residue, b.atom_role, b.atom_mass, b.atom_bonds,
            b.bond_types, b.atom_to_bead, b.num_beads)
    emb = model.embed(*args)
    torch.testing.assert_close(scripted.embed(*args), emb)
    hist = b.frames[:4]
    noise = torch.randn(model.noise_draws, b.num_beads, 3)
    ext = torch.zeros(b.num_beads, 3)
    with torch.no_grad():
        ref = model.step(emb, hist, noise, b.cg_bonds, b.batch, b.box, ext)
        got = scripted.step(emb, hist, noise, b.cg_bonds, b.batch, b.box, ext)
    torch.testing.assert_close(got, ref)
    assert ref.shape == (b.num_beads, 3) and torch.isfinite(ref).all()
    assert model.noise_draws == 1 + 2 * 2


def test_step_integrates_sampled_acceleration(tiny_data):
    ds, stats = tiny_data
    model = CGModel(ModelConfig(family="plain", **{**TINY, "refine_levels": 0}), stats).double()
    model.eval()
    b = ds.collate([0]).to("cpu", torch.float64)
    emb = model.embed(b.atom_element, b.atom_residue, b.atom_role, b.atom_mass, b.atom_bonds,
                      b.bond_types, b.atom_to_bead, b.num_beads)
    hist = b.frames[:4]
    noise = torch.randn(1, b.num_beads, 3, dtype=torch.float64)
    ext = torch.full((b.num_beads, 3), 0.01, dtype=torch.float64)
    with torch.no_grad():
        x = model.step(emb, hist, noise, b.cg_bonds, b.batch, b.box, ext)
        mean, std, _ = model.dynamics(emb, hist, b.cg_bonds, b.batch, b.box)
    dt = stats["dt"]
    expect = 2 * hist[-1] - hist[-2] + (mean + std * noise[0] + ext) * dt ** 2
    torch.testing.assert_close(x, expect)


def test_config_validation_messages():
    with pytest.raises(ValueError, match="family"):
        ModelConfig(family="gnn")
    with pytest.raises(ValueError, match="refine_levels"):
        ModelConfig(noise_levels=3, refine_levels=4)
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_dict({"hiden": 3})
    cfg = ModelConfig(sigma_max=1.0, sigma_min=0.01, noise_levels=3, refine_levels=2)
    assert cfg.sigmas() == pytest.approx([1.0, 0.1, 0.01])
    assert cfg.refine_sigmas() == pytest.approx([0.1, 0.01])  # smallest training levels
    wide = ModelConfig(sigma_max=1.0, sigma_min=0.01, noise_levels=20, refine_levels=3,
                       refine_sigma_max=0.25)
    assert wide.refine_sigmas() == pytest.approx([0.25, 0.05, 0.01])
    assert ModelConfig(refine_levels=0, refine_sigma_max=0.3).refine_sigmas() == []
    with pytest.raises(ValueError, match="refine_sigma_max.*trained range"):
        ModelConfig(sigma_max=1.0, refine_sigma_max=2.0)
    with pytest.raises(ValueError, match="refine_sigma_max"):
        ModelConfig(refine_sigma_max=-1.0)
    with pytest.raises(ValueError, match="refine_sampler"):
        ModelConfig(refine_sampler="euler")
    assert ModelConfig(refine_levels=4, refine_steps=10).noise_draws == 41
    assert ModelConfig(refine_levels=4, refine_steps=10, refine_sampler="ddim").noise_draws == 5
    assert math.isclose(ModelConfig.from_dict(cfg.to_dict()).sigma_min, 0.01)
    assert ModelConfig(min_std="1e-3").min_std == 1e-3  # YAML 1.1 reads 1e-3 as a string
    with pytest.raises(ValueError, match="hidden"):
        ModelConfig(hidden="wide")
    assert ModelConfig().residue_vocab > 1 and ModelConfig().role_vocab > 1
