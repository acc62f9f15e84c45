"""Fit the bond-graph noise correlation of a trained model on reference trajectories.

The dynamics net predicts a diagonal Gaussian over the next frame. Teacher-forced on
reference MD (history = k true frames), its residuals ``z = (x_true - x_mean) / std``
(per bead and component, unitless) show how the real next-frame noise is correlated. Under
the correlated noise of :mod:`openmm_cgml.models.noise` the three components of ``z`` are
independent ``N(0, C(lambda0))`` with ``C = K K^T``; this module finds the ``lambda0`` that
maximises that likelihood (a grid search, log-spaced) and compares it with independent noise
(``C = I``, the model as trained).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["NoiseFit", "teacher_forced_residuals", "correlation_log_likelihood",
           "fit_noise_correlation", "write_noise_correlation", "fit_checkpoint_noise"]

#: default grid of lambda0 (dimensionless Laplacian eigenvalue scale)
DEFAULT_GRID = tuple(float(x) for x in np.round(np.logspace(-2, 2, 41), 6))


@dataclass
class NoiseFit:
    """Result of :func:`fit_noise_correlation`.

    ``lambda0``: the maximum-likelihood value on the grid; ``gain_per_bead``: its
    log-likelihood minus that of independent noise, per bead-component (nats; > 0 means the
    correlated noise describes the residuals better); ``grid`` / ``log_likelihood``: the whole
    profile (nats per bead-component, up to a constant); ``independent``: the value for
    ``C = I``; ``residual_rms``: RMS of ``z`` (1 for a calibrated std); ``bonded_correlation``:
    mean correlation of ``z`` between bonded beads; ``molecules`` / ``windows``: data used.
    """

    lambda0: float
    gain_per_bead: float
    independent: float
    grid: list[float] = field(default_factory=list)
    log_likelihood: list[float] = field(default_factory=list)
    residual_rms: float = float("nan")
    bonded_correlation: float = float("nan")
    molecules: int = 0
    windows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def teacher_forced_residuals(model: torch.nn.Module, files: Sequence[str | os.PathLike], *,
                             windows: int = 64, device: str = "cpu", seed: int = 0,
                             ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Normalised residuals of one teacher-forced model step on reference trajectories.

    Args:
        model: a trained ``CGModel``.
        files: reference ``.h5`` trajectories (CONTRACTS.md section 3) whose frame spacing
            divides the model step.
        windows: windows (k history frames + the next) drawn per file, without replacement.
        seed: draws the windows.

    Returns:
        per file ``(z [W, n, 3], bonds [B, 2])``: ``z = (x_true - x_mean) / (std dt^2)`` with
        ``x_mean = 2 x_t - x_{t-1} + mean dt^2`` (unitless).
    """
    from openmm_cgml.evaluation.data import load_trajectories
    from openmm_cgml.evaluation.pipeline import _frame_ratio
    from openmm_cgml.export import build_step_module, inference_settings
    from openmm_cgml.reference.storage import TrajectoryFile

    settings = inference_settings(model)
    k, dt = settings.history_length, settings.timestep_ps
    rng = np.random.default_rng(seed)
    out = []
    for path in files:
        with TrajectoryFile(path) as tf:
            mapping = tf.mapping
        (name, ref), = load_trajectories([path]).items()
        x = max(ref.runs, key=len)[:: _frame_ratio(dt, ref.dt_ps, name)]
        starts = np.arange(0, len(x) - k)
        if len(starts) == 0:
            raise ValueError(f"{path}: {len(x)} frames at the model step; a window needs "
                             f"{k + 1}")
        pick = np.sort(rng.choice(starts, size=min(windows, len(starts)), replace=False))
        n = x.shape[1]
        mod = build_step_module(model, [mapping] * len(pick), device=device, sigmas=[])
        win = np.stack([x[s:s + k + 1] for s in pick], axis=1)  # [k+1, W, n, 3]
        win = torch.as_tensor(win.reshape(k + 1, -1, 3), dtype=torch.float32, device=device)
        hist, target = win[:k], win[k]
        box = torch.zeros(3, 3, device=device)
        mean, std, _ = mod.model.dynamics(mod.bead_embeddings, hist, mod.cg_bonds, mod.batch,
                                          box)
        pred = 2 * hist[-1] - hist[-2] + mean * dt * dt
        z = ((target - pred) / (std * dt * dt)).double().cpu().numpy()
        out.append((z.reshape(len(pick), n, 3), np.asarray(ref.bonds, dtype=np.int64)))
    return out


def correlation_log_likelihood(z: np.ndarray, bonds: np.ndarray, lambda0: float) -> float:
    """Mean log-likelihood per bead-component (nats, without the ``-log(2 pi)/2`` constant) of
    residuals ``z`` ``[W, n, 3]`` under ``N(0, K K^T)`` per component, ``K`` from
    :func:`openmm_cgml.models.noise.correlation_factor` (``lambda0 = 0``: independent)."""
    from openmm_cgml.models.noise import correlation_factor

    w, n, _ = z.shape
    k = correlation_factor(bonds, n, lambda0)
    cov = k @ k.T
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return -math.inf
    zz = z.transpose(0, 2, 1).reshape(-1, n)  # [W*3, n]
    quad = np.einsum("ij,ij->i", zz, np.linalg.solve(cov, zz.T).T)
    return float(-0.5 * (quad.mean() + logdet) / n)


def fit_noise_correlation(residuals: list[tuple[np.ndarray, np.ndarray]],
                          grid: Sequence[float] = DEFAULT_GRID) -> NoiseFit:
    """Maximum-likelihood ``lambda0`` over ``grid`` for residuals from
    :func:`teacher_forced_residuals` (molecules weighted by their bead-components)."""
    if not residuals:
        raise ValueError("no residuals to fit (no reference files?)")
    grid = sorted(float(g) for g in grid)
    if not grid or grid[0] <= 0:
        raise ValueError("the lambda0 grid must hold positive values")
    weights = np.array([z.size for z, _ in residuals], dtype=float)
    weights /= weights.sum()

    def total(lam: float) -> float:
        return float(sum(wt * correlation_log_likelihood(z, b, lam)
                         for wt, (z, b) in zip(weights, residuals, strict=True)))

    prof = [total(lam) for lam in grid]
    indep = total(0.0)
    best = int(np.argmax(prof))
    zs = np.concatenate([z.reshape(-1) for z, _ in residuals])
    corr = []
    for z, b in residuals:
        if len(b):
            zc = z - z.mean(0)
            corr.append(float((zc[:, b[:, 0]] * zc[:, b[:, 1]]).sum(-1).mean()
                              / (zc * zc).sum(-1).mean()))
    return NoiseFit(lambda0=grid[best], gain_per_bead=prof[best] - indep, independent=indep,
                    grid=grid, log_likelihood=prof, residual_rms=float(np.sqrt(np.mean(zs**2))),
                    bonded_correlation=float(np.mean(corr)) if corr else float("nan"),
                    molecules=len(residuals), windows=int(sum(len(z) for z, _ in residuals)))


def write_noise_correlation(model_dir: str | os.PathLike, fit: NoiseFit,
                            source: dict[str, Any] | None = None) -> Path:
    """Store ``fit.lambda0`` as ``model.noise_correlation`` in ``model_dir/config.json``
    (written to a temporary file and renamed) and the fit itself under
    ``metadata.noise_correlation_fit``. Returns the config path."""
    from openmm_cgml.utils import atomic_write

    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: give a checkpoint or model folder")
    data = json.loads(path.read_text())
    if "model" not in data:
        raise ValueError(f"{path}: no 'model' section (not an openmm-cgml checkpoint)")
    data["model"]["noise_correlation"] = float(fit.lambda0)
    meta = data.setdefault("metadata", {})
    meta["noise_correlation_fit"] = {**fit.to_dict(), **(source or {})}
    atomic_write(path, json.dumps(data, indent=1) + "\n")
    return path


def fit_checkpoint_noise(model_dir: str | os.PathLike, reference: Any, split: str | None = None,
                         *, windows: int = 64, device: str = "cpu", seed: int = 0,
                         write: bool = False) -> NoiseFit:
    """Load the checkpoint ``model_dir``, fit its noise correlation on the trajectories
    ``reference`` (files, a folder, a glob or splits.json; with ``split``, use the training
    split) and, with ``write``, store lambda0 in its ``config.json``
    (:func:`write_noise_correlation`, recording the data, split, seed and windows)."""
    from openmm_cgml.evaluation.data import resolve_files
    from openmm_cgml.models import load_checkpoint

    if not (Path(model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}/config.json not found: give a checkpoint folder "
                                "(e.g. runs/NAME/final)")
    files = resolve_files(reference, split)
    model = load_checkpoint(model_dir, map_location=device)
    fit = fit_noise_correlation(teacher_forced_residuals(model, files, windows=windows,
                                                         device=device, seed=seed))
    if write:
        ref = [str(r) for r in reference] if isinstance(reference, (list, tuple)) \
            else str(reference)
        write_noise_correlation(model_dir, fit, {"reference": ref, "split": split, "seed": seed,
                                                 "windows_per_file": windows})
    return fit
