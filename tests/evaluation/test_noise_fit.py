"""Fitting the bond-graph noise correlation (``cgml fit-noise``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from openmm_cgml.evaluation.noise_fit import (
    correlation_log_likelihood,
    fit_noise_correlation,
    teacher_forced_residuals,
)
from openmm_cgml.models.noise import correlation_factor

DATA = Path(__file__).resolve().parents[1] / "data" / "polymer"
N = 16
CHAIN = np.stack([np.arange(N - 1), np.arange(1, N)], axis=1)


def _draws(lam: float, windows: int, seed: int) -> np.ndarray:
    k = correlation_factor(CHAIN, N, lam)
    eps = np.random.default_rng(seed).standard_normal((windows, N, 3))
    return np.einsum("ij,wjc->wic", k, eps)


def test_fit_recovers_the_correlation_it_was_drawn_with():
    fit = fit_noise_correlation([(_draws(0.5, 600, s), CHAIN) for s in range(3)])
    assert 0.3 <= fit.lambda0 <= 0.8
    assert fit.gain_per_bead > 0.05
    assert fit.residual_rms == pytest.approx(1.0, abs=0.03)
    assert fit.bonded_correlation > 0.3


def test_independent_residuals_prefer_independent_noise():
    z = np.random.default_rng(0).standard_normal((1200, N, 3))
    fit = fit_noise_correlation([(z, CHAIN)])
    assert fit.gain_per_bead < 0.005
    assert fit.lambda0 >= 10  # the top of the grid: as good as independent
    assert abs(fit.bonded_correlation) < 0.05
    # the likelihood of the true (independent) model beats a strongly correlated one
    assert correlation_log_likelihood(z, CHAIN, 0.0) > correlation_log_likelihood(z, CHAIN, 0.1)


def test_fit_noise_cli_writes_lambda0_into_the_checkpoint(tmp_path, capsys):
    """The shipped polymer model teacher-forced on the small polymer set's train chains: the
    residuals are correlated along the bonds and the fit is written atomically."""
    from openmm_cgml.cli import main
    from openmm_cgml.export.checkpoint import load_checkpoint
    from openmm_cgml.pretrained import model_path

    model_dir = tmp_path / "model"
    shutil.copytree(model_path("polymer-comb"), model_dir)
    out = tmp_path / "fit.json"
    assert main(["fit-noise", str(model_dir), str(DATA), "--split", "train", "--windows", "24",
                 "--write", "--json", str(out)]) == 0
    fit = json.loads(out.read_text())
    assert fit["gain_per_bead"] > 0.05 and fit["bonded_correlation"] > 0.3
    assert 0.1 <= fit["lambda0"] <= 2.0
    assert fit["molecules"] == 9 and fit["windows"] == 9 * 24
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model"]["noise_correlation"] == fit["lambda0"]
    assert load_checkpoint(model_dir).config.noise_correlation == fit["lambda0"]
    assert "lambda0" in capsys.readouterr().out


def test_residuals_are_unit_scale_for_a_trained_model():
    from openmm_cgml.pretrained import load_model

    res = teacher_forced_residuals(load_model("polymer-comb").network,
                                   [DATA / "poly_0000.h5"], windows=16)
    (z, bonds), = res
    assert z.shape[0] == 16 and z.shape[2] == 3 and len(bonds) == z.shape[1] - 1
    assert 0.8 < float(np.sqrt((z**2).mean())) < 1.25


def test_fit_noise_cli_names_a_missing_checkpoint(tmp_path, capsys):
    from openmm_cgml.cli import main

    assert main(["fit-noise", str(tmp_path / "nothing"), str(DATA), "--split", "train"]) == 2
    err = capsys.readouterr().err
    assert "nothing/config.json not found" in err and "Traceback" not in err
