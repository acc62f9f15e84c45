"""The multi-step drift term (``ModelConfig.drift_horizon`` / ``drift_weight``)."""

from __future__ import annotations

import json

import pytest
import torch

from openmm_cgml.datasets import WindowDataset, compute_statistics
from openmm_cgml.datasets.synthetic import write_synthetic_chain
from openmm_cgml.models import CGModel, ModelConfig

TINY = dict(hidden=16, layers=2, score_layers=1, embed_layers=1, history_length=3,
            num_rbf=8, refine_levels=1, refine_steps=1)
M = 3  # the horizon of the multi_step_windows fixture (conftest.py)


@pytest.mark.parametrize("family", ["plain", "equivariant"])
def test_stacked_subwindows_match_separate_one_step_losses(multi_step_windows, family):
    """With m = 3 the NLL is the mean of the one-step NLLs of the 3 consecutive windows (one
    network call on 3 disjoint copies of the graph), and ``drift`` is the squared sum of their
    standardised residuals / m, computed here window by window with a one-step model."""
    one, multi, stats = multi_step_windows
    torch.manual_seed(0)
    model = CGModel(ModelConfig(family=family, drift_horizon=M, drift_weight=1.0, **TINY),
                    stats).eval()
    single = CGModel(ModelConfig(family=family, **TINY), stats).eval()
    single.load_state_dict(model.state_dict())
    starts = [0, 5]  # window i of file a starts at frame i; windows of `one` at the same frames
    batch = multi.collate(starts)
    with torch.no_grad():
        out = model.loss(batch, generator=torch.Generator().manual_seed(1))
        nlls, zsum = [], 0.0
        for j in range(M):
            sub = one.collate([s + j for s in starts])
            nlls.append(float(single.loss(sub, generator=torch.Generator().manual_seed(1))["nll"]))
            emb = single.embed(sub.atom_element, sub.atom_residue, sub.atom_role, sub.atom_mass,
                               sub.atom_bonds, sub.bond_types, sub.atom_to_bead, sub.num_beads)
            k = single.history_length
            mean, std, _ = single.dynamics(emb, sub.frames[:k], sub.cg_bonds, sub.batch, sub.box)
            acc = (sub.frames[k] - 2 * sub.frames[k - 1] + sub.frames[k - 2]) / sub.dt ** 2
            zsum = zsum + (acc - mean) / std
        per_bead = (zsum * zsum).mean(-1) / M
        expect = torch.stack([per_bead[sub.batch == i].mean() for i in range(2)]).mean()
    assert float(out["nll"]) == pytest.approx(sum(nlls) / M, rel=1e-5)
    assert float(out["drift"]) == pytest.approx(float(expect), rel=1e-5)
    assert float(out["total"]) == pytest.approx(
        float(out["nll"]) + float(out["dsm"]) + float(out["drift"]), rel=1e-6)


def test_drift_term_weighs_a_persistent_bias_m_times(multi_step_windows):
    """A bias of the mean by b std in every step adds about b^2 / 2 per component to the
    one-step NLL but m b^2 to the drift term (the residuals of the m steps add up)."""
    _, multi, stats = multi_step_windows
    torch.manual_seed(0)
    model = CGModel(ModelConfig(drift_horizon=M, drift_weight=1.0, **TINY), stats).eval()
    batch = multi.collate(range(len(multi)))
    with torch.no_grad():
        base = model.loss(batch, generator=torch.Generator().manual_seed(2))
        unbiased = model.dynamics
        b = 20.0

        def biased(*args, **kwargs):
            mean, std, latent = unbiased(*args, **kwargs)
            return mean + b * std, std, latent

        model.dynamics = biased
        shifted = model.loss(batch, generator=torch.Generator().manual_seed(2))
    d_nll = float(shifted["nll"]) - float(base["nll"])
    d_drift = float(shifted["drift"]) - float(base["drift"])
    assert d_nll == pytest.approx(b * b / 2, rel=0.3)
    assert d_drift == pytest.approx(M * b * b, rel=0.3)
    assert d_drift > M * d_nll


def test_config_checks_and_training_windows(tmp_path):
    with pytest.raises(ValueError, match="drift_weight"):
        ModelConfig(drift_weight=1.0, drift_horizon=1)
    with pytest.raises(ValueError, match="drift_horizon"):
        ModelConfig(drift_horizon=0)
    cfg = ModelConfig(drift_horizon=4, drift_weight=0.5)
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    # off by default: one target frame per window, no extra noise draws
    write_synthetic_chain(tmp_path / "a.h5", num_beads=5, num_frames=16, seed=1)
    ds = WindowDataset(tmp_path, history_length=3)
    stats = compute_statistics(ds)
    plain = CGModel(ModelConfig(**TINY), stats)
    assert plain.drift_horizon == 1
    noise = plain.sample_loss_noise(ds.collate([0]), torch.Generator().manual_seed(0))
    assert "aug_noise_more" not in noise and "drift" not in plain.loss(ds.collate([0]), noise)
    on = CGModel(ModelConfig(drift_horizon=M, drift_weight=1.0, **TINY), stats)
    with pytest.raises(ValueError, match="history_length \\+ training horizon = 6"):
        on.loss(ds.collate([0]))
    multi = WindowDataset(tmp_path, history_length=3, horizon=M)
    noise = on.train().sample_loss_noise(multi.collate([0, 1]), torch.Generator().manual_seed(0))
    assert noise["aug_noise_more"].shape == (M - 1, 3, 10, 3)
    first = plain.sample_loss_noise(multi.collate([0, 1]), torch.Generator().manual_seed(0))
    assert torch.equal(first["aug_noise"], noise["aug_noise"])  # earlier draws unchanged
