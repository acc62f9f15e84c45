"""The multi-step rollout score (``ModelConfig.rollout_horizon`` / ``rollout_weight``)."""

from __future__ import annotations

import pytest
import torch

from openmm_cgml.datasets import WindowDataset
from openmm_cgml.models import CGModel, ModelConfig

TINY = dict(hidden=16, layers=2, score_layers=1, embed_layers=1, history_length=3,
            num_rbf=8, refine_levels=1, refine_steps=1)
R = 3  # the horizon of the multi_step_windows fixture (conftest.py)


def _rg(x, w):
    com = (x * w[:, None]).sum(0) / w.sum()
    return torch.sqrt((((x - com) ** 2).sum(-1) * w).sum() / w.sum())


@pytest.mark.parametrize("family", ["plain", "equivariant"])
def test_rollout_score_matches_two_separate_rollouts(multi_step_windows, family):
    """The stacked term equals the energy score computed from two rollouts stepped one
    molecule at a time, by hand, with the same draws."""
    _, multi, stats = multi_step_windows
    torch.manual_seed(0)
    model = CGModel(ModelConfig(family=family, rollout_horizon=R, rollout_weight=1.0, **TINY),
                    stats).eval()
    batch = multi.collate([0, len(multi) - 1])  # one window of each molecule
    noise = model.sample_loss_noise(batch, torch.Generator().manual_seed(1))
    assert noise["rollout_noise"].shape == (R, 2, batch.num_beads, 3)
    with torch.no_grad():
        out = model.loss(batch, noise)
        k, dt, unit = model.history_length, float(model.dt), float(model.displacement_rms)
        emb = model.embed(batch.atom_element, batch.atom_residue, batch.atom_role,
                          batch.atom_mass, batch.atom_bonds, batch.bond_types,
                          batch.atom_to_bead, batch.num_beads)
        per_mol = []
        for g in range(2):
            sel = batch.batch == g
            idx = torch.nonzero(sel).squeeze(1)
            remap = torch.full((batch.num_beads,), -1, dtype=torch.long)
            remap[idx] = torch.arange(len(idx))
            keep = sel[batch.cg_bonds[0]]
            bonds = remap[batch.cg_bonds[:, keep]]
            w = batch.bead_masses[sel]
            hists = [batch.frames[:k, sel].clone() for _ in range(2)]
            score = 0.0
            for j in range(R):
                xs = []
                for s in range(2):
                    h = hists[s]
                    mean, std, _ = model.dynamics(emb[sel], h, bonds,
                                                  torch.zeros(len(idx), dtype=torch.long),
                                                  batch.box)
                    acc = mean + std * noise["rollout_noise"][j, s][sel]
                    x = h[-1] + ((h[-1] - h[-2]) / dt + acc * dt) * dt
                    hists[s] = torch.cat([h[1:], x[None]])
                    xs.append(x)
                y = batch.frames[k + j, sel]
                scale = unit * (j + 1) ** 0.5
                es = 0.5 * ((xs[0] - y).norm(dim=-1) + (xs[1] - y).norm(dim=-1)) \
                    - 0.5 * (xs[0] - xs[1]).norm(dim=-1)
                r1, r2, ry = _rg(xs[0], w), _rg(xs[1], w), _rg(y, w)
                crps = 0.5 * ((r1 - ry).abs() + (r2 - ry).abs()) - 0.5 * (r1 - r2).abs()
                score += float(es.mean() / scale + crps * len(idx) ** 0.5 / scale)
            per_mol.append(score / R)
    assert float(out["rollout"]) == pytest.approx(sum(per_mol) / 2, rel=1e-4)
    assert float(out["total"]) == pytest.approx(
        float(out["nll"]) + float(out["dsm"]) + float(out["rollout"]), rel=1e-6)


def test_rollout_score_grows_with_a_bias_and_trains_only_the_mean(multi_step_windows):
    """A mean biased by b std per step scores worse the larger b; the term's gradient does not
    reach the std (it belongs to the NLL)."""
    _, multi, stats = multi_step_windows
    torch.manual_seed(0)
    model = CGModel(ModelConfig(rollout_horizon=R, rollout_weight=1.0, **TINY), stats).eval()
    batch = multi.collate(range(len(multi)))
    noise = model.sample_loss_noise(batch, torch.Generator().manual_seed(2))
    unbiased = model.dynamics
    scores = []
    for b in (0.0, 3.0, 10.0):
        def biased(*args, b=b, **kwargs):
            mean, std, latent = unbiased(*args, **kwargs)
            return mean + b * std.detach(), std, latent

        model.dynamics = biased
        with torch.no_grad():
            scores.append(float(model.loss(batch, noise)["rollout"]))
    assert all(s >= 0 for s in scores)
    assert scores[0] < scores[1] < scores[2]
    # gradient wrt the std output: none from the rollout term
    captured = []

    def spy(*args, **kwargs):
        mean, std, latent = unbiased(*args, **kwargs)
        std = std.detach().requires_grad_(True)
        captured.append(std)
        return mean, std, latent

    model.dynamics = spy
    out = model.loss(batch, noise)
    out["rollout"].backward()
    rollout_stds = captured[1:]  # captured[0] is the one-step NLL call
    assert len(rollout_stds) == R
    assert all(s.grad is None for s in rollout_stds)


def test_rollout_options_validate_and_keep_the_old_draws(multi_step_windows):
    _, multi, stats = multi_step_windows
    with pytest.raises(ValueError, match="rollout_weight"):
        ModelConfig(rollout_weight=1.0, rollout_horizon=0)
    with pytest.raises(ValueError, match="rollout_horizon"):
        ModelConfig(rollout_horizon=-1)
    cfg = ModelConfig(rollout_horizon=4, rollout_weight=0.5, drift_horizon=2, drift_weight=1.0)
    assert cfg.training_horizon == 4
    assert ModelConfig(rollout_horizon=4).training_horizon == 1  # weight 0: off
    torch.manual_seed(0)
    plain = CGModel(ModelConfig(**TINY), stats)
    roll = CGModel(ModelConfig(rollout_horizon=R, rollout_weight=1.0, **TINY), stats)
    batch = multi.collate([0, 1])
    a = plain.sample_loss_noise(batch, torch.Generator().manual_seed(3))
    b = roll.sample_loss_noise(batch, torch.Generator().manual_seed(3))
    assert "rollout_noise" not in a
    for key in a:
        assert torch.equal(a[key], b[key])  # the rollout draws come after all others
    short = WindowDataset(multi.files[0].parent, history_length=3, window_step=1)
    with pytest.raises(ValueError, match="training horizon"):
        roll.loss(short.collate([0]))
