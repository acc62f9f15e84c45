"""Training runs: checkpoints, exact resume, metrics, CLI errors."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from openmm_cgml.cli import main
from openmm_cgml.datasets.synthetic import write_synthetic_chain
from openmm_cgml.models import load_checkpoint
from openmm_cgml.training import Trainer, load_train_config


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = root / "data"
    write_synthetic_chain(data / "a.h5", num_beads=5, num_frames=24, seed=1)
    write_synthetic_chain(data / "b.h5", num_beads=6, num_frames=24, seed=2)
    (data / "splits.json").write_text(json.dumps({"train": ["a.h5", "b.h5"], "val": ["b.h5"],
                                                  "test": []}))
    cfg = root / "cfg.yaml"
    cfg.write_text("""
seed: 3
output: run
data: {train: data, train_split: train, val: data, val_split: val, val_window_step: 5}
model: {family: plain, hidden: 16, layers: 1, score_layers: 1, embed_layers: 1,
        history_length: 3, num_rbf: 8, refine_levels: 1, refine_steps: 1}
train: {max_steps: 8, batch_size: 4, lr: 1.0e-3, warmup_steps: 2, device: cpu, log_every: 2,
        val_every: 4, checkpoint_every: 4, keep_checkpoints: 1, rollout_steps: 3,
        rollout_molecules: 1}
""")
    return cfg


def _run(config_file, out, resume=False, stop_after=None, overrides=()):
    cfg = load_train_config(config_file, [f"output={out}", *overrides])
    trainer = Trainer(cfg, resume=resume, progress=False)
    try:
        trainer.fit(stop_after=stop_after)
    finally:
        trainer.close()
    return trainer


def test_time_budget_shortens_the_run_and_writes_final(config_file, tmp_path):
    """max_time_s: the first log step re-plans max_steps to fit; final is written."""
    trainer = _run(config_file, tmp_path / "t",
                   overrides=["train.max_time_s=1e-6", "train.max_steps=1000"])
    assert trainer.step == 2  # the first log step (log_every = 2): budget already spent
    assert trainer.config.train.max_steps == 2
    assert (tmp_path / "t" / "final" / "model.safetensors").is_file()
    saved = (tmp_path / "t" / "config.yaml").read_text()
    assert "max_steps: 2" in saved  # resume/re-runs see the re-planned length
    # a generous budget changes nothing
    roomy = _run(config_file, tmp_path / "u", overrides=["train.max_time_s=3600"])
    assert roomy.step == roomy.config.train.max_steps == 8
    # re-planning follows the recent step rate both ways, capped at the requested length
    t = roomy.config.train
    t.max_time_s = 100.0
    roomy._fit_time_budget(50.0, [(0.0, 0), (100.0, 10)], requested=1000)  # 10 s/step
    assert t.max_steps == 8 + int(0.95 * 50 / 10)
    roomy._fit_time_budget(50.0, [(0.0, 0), (10.0, 10)], requested=1000)  # faster now
    assert t.max_steps == 8 + int(0.95 * 50 / 1)
    roomy._fit_time_budget(50.0, [(0.0, 0), (0.01, 10)], requested=1000)
    assert t.max_steps == 1000


def test_time_budget_counts_the_set_up(config_file, tmp_path):
    """max_time_s starts with the Trainer, not with fit: time spent before fit is spent."""
    import time

    cfg = load_train_config(config_file, [f"output={tmp_path / 's'}", "train.max_time_s=0.5",
                                          "train.max_steps=1000"])
    trainer = Trainer(cfg, progress=False)
    time.sleep(0.6)  # stands for a slow set-up
    try:
        trainer.fit()
    finally:
        trainer.close()
    assert trainer.step == 2  # stopped at the first log step: the budget was already spent


def test_resume_continues_exactly(config_file, tmp_path):
    straight = _run(config_file, tmp_path / "a")
    _run(config_file, tmp_path / "b", stop_after=3)  # interrupted after 3 of 8 steps
    latest = json.loads((tmp_path / "b" / "checkpoints" / "latest.json").read_text())
    assert latest["step"] == 3
    resumed = _run(config_file, tmp_path / "b", resume=True)
    assert resumed.step == straight.step == 8
    a = load_file(tmp_path / "a" / "final" / "model.safetensors")
    b = load_file(tmp_path / "b" / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    sa, sb = straight.opt.state_dict()["state"], resumed.opt.state_dict()["state"]
    for key in sa:
        assert torch.equal(sa[key]["exp_avg_sq"], sb[key]["exp_avg_sq"])
    # outputs: checkpoints pruned to keep_checkpoints, metrics with train and val rows
    steps = sorted(p.name for p in (tmp_path / "a" / "checkpoints").glob("step_*"))
    assert steps == ["step_00000008"]
    assert not [p for p in (tmp_path / "a" / "checkpoints").iterdir() if p.name.startswith(".")]
    rows = list(csv.DictReader(open(tmp_path / "b" / "metrics.csv")))
    assert [int(r["step"]) for r in rows if r["train_total"]] == [2, 3, 4, 6, 8]
    val = [r for r in rows if r.get("val_total")]
    assert [int(r["step"]) for r in val] == [4, 8]
    assert float(val[-1]["val_rollout_finite"]) == 1.0
    model = load_checkpoint(tmp_path / "a" / "best")
    assert model.config.hidden == 16 and model.statistics["dt"] > 0


def test_training_reduces_loss(config_file, tmp_path):
    trainer = _run(config_file, tmp_path / "c", overrides=[
        "train.max_steps=40", "train.log_every=10", "train.val_every=40", "train.lr=3e-3",
        "train.checkpoint_every=40"])
    rows = [r for r in trainer.rows if "train_total" in r]
    assert rows[-1]["train_nll"] < rows[0]["train_nll"] - 0.2
    assert rows[-1]["samples_per_s"] > 0


def test_cli_train_and_errors(config_file, tmp_path, capsys):
    assert main(["train", str(config_file), "-o", str(tmp_path / "d"), "--max-steps", "2",
                 "--no-progress", "--set", "train.val_every=2", "--set", "train.amp=true"]) == 0
    assert (tmp_path / "d" / "final" / "config.json").exists()
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(config_file.read_text().replace("lr: 1.0e-3", "lrate: 1.0e-3"))
    assert main(["train", str(bad)]) == 2
    assert "lrate" in capsys.readouterr().err
    assert main(["train", str(config_file), "-o", str(tmp_path / "e"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_drift_term_trains_on_longer_windows(config_file, tmp_path):
    """model.drift_weight > 0: the windows hold k + drift_horizon frames, the loss logs its
    drift term, and a checkpoint written before the option existed still resumes."""
    trainer = _run(config_file, tmp_path / "d",
                   overrides=["model.drift_horizon=3", "model.drift_weight=0.5"])
    assert trainer.train_set.frames_per_window == 3 + 3
    assert trainer.val_set.frames_per_window == 3 + 3
    rows = list(csv.DictReader((tmp_path / "d" / "metrics.csv").open()))
    drift = [float(r["train_drift"]) for r in rows if r.get("train_drift")]
    assert drift and all(d > 0 for d in drift)
    assert any(r.get("val_drift") for r in rows)
    # an older checkpoint's config lacks the new keys: resuming fills in their defaults
    _run(config_file, tmp_path / "old", stop_after=4)
    ckpt = json.loads((tmp_path / "old" / "checkpoints" / "latest.json").read_text())
    cfg_path = tmp_path / "old" / "checkpoints" / ckpt["path"] / "config.json"
    saved = json.loads(cfg_path.read_text())
    for key in ("drift_horizon", "drift_weight"):
        del saved["model"][key]
    cfg_path.write_text(json.dumps(saved))
    assert _run(config_file, tmp_path / "old", resume=True).step == 8


def test_fine_tuning_starts_from_a_model_folder(config_file, tmp_path, capsys):
    """train.init_from / --init-from: the run starts from the folder's weights and statistics
    (with other loss settings, here the rollout score); another architecture or a folder
    without weights is refused with the keys / path named."""
    _run(config_file, tmp_path / "src")
    src = tmp_path / "src" / "final"
    source = load_checkpoint(src)
    cfg = load_train_config(config_file, [f"output={tmp_path / 'ft'}", f"train.init_from={src}",
                                          "model.rollout_horizon=2", "model.rollout_weight=1.0"])
    trainer = Trainer(cfg, progress=False)
    try:
        assert trainer.train_set.frames_per_window == 3 + 2
        for key, value in source.state_dict().items():
            assert torch.equal(trainer.model.state_dict()[key], value), key
        assert trainer.model.statistics == source.statistics
        trainer.fit()
    finally:
        trainer.close()
    rows = list(csv.DictReader((tmp_path / "ft" / "metrics.csv").open()))
    assert any(r.get("train_rollout") for r in rows)
    tuned = load_checkpoint(tmp_path / "ft" / "final")
    assert tuned.config.rollout_weight == 1.0
    moved = sum(float((a - b).abs().sum()) for a, b in
                zip(tuned.parameters(), source.parameters(), strict=True))
    assert moved > 0  # it trained from there
    # the CLI flag; a wider model cannot take these weights
    assert main(["train", str(config_file), "-o", str(tmp_path / "bad"), "--init-from", str(src),
                 "--set", "model.hidden=24", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "hidden" in err and "16 there, 24 here" in err
    assert main(["train", str(config_file), "-o", str(tmp_path / "bad2"), "--init-from",
                 str(tmp_path), "--no-progress"]) == 2
    assert "no model folder" in capsys.readouterr().err
