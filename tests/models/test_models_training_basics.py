"""Overfitting a tiny dataset, loss reproducibility and checkpoint round trips."""

from __future__ import annotations

import json

import pytest
import torch

from openmm_cgml.datasets import WindowDataset, compute_statistics
from openmm_cgml.datasets.synthetic import write_synthetic_chain
from openmm_cgml.models import CGModel, ModelConfig, load_checkpoint, save_checkpoint

TINY = dict(hidden=32, layers=2, score_layers=2, embed_layers=1, history_length=3,
            num_rbf=8, refine_levels=1, refine_steps=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_synthetic_chain(root / "a.h5", num_beads=6, num_frames=12, seed=4)
    ds = WindowDataset(root, history_length=3, window_step=2)
    return ds, compute_statistics(ds)


@pytest.mark.parametrize("family", ["plain", "equivariant"])
def test_overfit_tiny_dataset(tiny, family):
    ds, stats = tiny
    torch.manual_seed(0)
    model = CGModel(ModelConfig(family=family, input_noise_max=0.0, input_noise_min=0.0,
                                **TINY), stats)
    batch = ds.collate(range(len(ds)))
    gen = torch.Generator().manual_seed(0)
    model.eval()
    with torch.no_grad():
        initial = float(model.loss(batch, generator=gen)["nll"])
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(100):
        opt.zero_grad()
        out = model.loss(batch, generator=gen)
        out["total"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = model.loss(batch, generator=gen)
    # memorising 5 windows: mean error and std shrink, the NLL drops by > 1 nat
    assert float(final["nll"]) < initial - 1.0, (initial, float(final["nll"]))
    assert float(final["mse_acc"]) < 0.5
    assert torch.isfinite(final["dsm"])


def test_loss_is_reproducible_with_explicit_noise(tiny):
    ds, stats = tiny
    model = CGModel(ModelConfig(**TINY), stats).train()
    batch = ds.collate([0, 1])
    noise = model.sample_loss_noise(batch, torch.Generator().manual_seed(5))
    a = model.loss(batch, noise)
    b = model.loss(batch, noise)
    assert float(a["total"]) == float(b["total"])
    # augmentation only in training mode
    noise["aug_sigma"] *= 100
    c = model.loss(batch, noise)
    model.eval()
    d = model.loss(batch, noise)
    assert float(c["nll"]) != float(a["nll"])
    model.train()
    noise["aug_sigma"] /= 100
    assert float(d["nll"]) == pytest.approx(float(model.eval().loss(batch, noise)["nll"]))


def test_correlated_input_noise_keeps_velocities(tiny):
    """input_noise_correlation: rho = 0 draws exactly what earlier versions drew; rho = 1
    gives every history frame the same offset (finite-difference velocities unchanged);
    in between the frames' noise has unit variance and correlation rho."""
    ds, stats = tiny
    batch = ds.collate([0, 1])
    base = CGModel(ModelConfig(**TINY), stats).sample_loss_noise(
        batch, torch.Generator().manual_seed(3))
    same = CGModel(ModelConfig(input_noise_correlation=0.0, **TINY), stats).sample_loss_noise(
        batch, torch.Generator().manual_seed(3))
    for key in base:
        assert torch.equal(base[key], same[key]), key
    full = CGModel(ModelConfig(input_noise_correlation=1.0, **TINY), stats).sample_loss_noise(
        batch, torch.Generator().manual_seed(3))
    assert torch.equal(full["dsm_noise"], base["dsm_noise"])
    torch.testing.assert_close(full["aug_noise"][1:] - full["aug_noise"][:-1],
                               torch.zeros_like(full["aug_noise"][1:]))
    big = ds.collate(list(range(len(ds))) * 200)  # many beads: estimate the correlation
    part = CGModel(ModelConfig(input_noise_correlation=0.6, **TINY), stats).sample_loss_noise(
        big, torch.Generator().manual_seed(4))["aug_noise"]
    a, b = part[0].reshape(-1), part[-1].reshape(-1)
    assert float(a.std()) == pytest.approx(1.0, abs=0.05)
    assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) == pytest.approx(0.6, abs=0.05)
    with pytest.raises(ValueError, match="input_noise_correlation"):
        ModelConfig(input_noise_correlation=1.5, **TINY)


def test_checkpoint_round_trip_is_exact(tiny, tmp_path):
    ds, stats = tiny
    torch.manual_seed(2)
    model = CGModel(ModelConfig(family="equivariant", rg_weight=0.5, **TINY), stats).eval()
    batch = ds.collate([0, 2])
    noise = model.sample_loss_noise(batch, torch.Generator().manual_seed(1))
    ref = model.loss(batch, noise)
    path = save_checkpoint(model, tmp_path / "ckpt", metadata={"step": 3})
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors",
                                                      "statistics.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
    loaded = load_checkpoint(path)
    got = loaded.loss(batch, noise)
    for key in ref:
        assert float(got[key]) == float(ref[key]), key
    assert loaded.statistics == model.statistics
    assert loaded.timestep_ps == pytest.approx(stats["dt"])
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["model"]["family"] == "equivariant" and cfg["metadata"] == {"step": 3}
    # overwrite in place keeps a valid checkpoint
    save_checkpoint(loaded, path)
    load_checkpoint(path)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint directory"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text(json.dumps({"format": "x"}))
    with pytest.raises(ValueError, match="format"):
        load_checkpoint(tmp_path / "c")
