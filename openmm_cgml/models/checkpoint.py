"""Checkpoints: a directory with ``model.safetensors`` + ``config.json`` + ``statistics.json``.

Optionally ``train_state.pt`` (optimizer / scheduler / step / RNG state for ``--resume``;
tensors and plain containers only, loaded with ``weights_only=True``). No pickled code.
A checkpoint is written into a temporary sibling directory and renamed into place, so an
interruption leaves either the old checkpoint or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from openmm_cgml.models.config import ModelConfig
from openmm_cgml.models.model import CGModel

CHECKPOINT_FORMAT = "openmm-cgml-model"
CHECKPOINT_VERSION = 1


def _software() -> dict[str, str]:
    from openmm_cgml import __version__
    return {"openmm_cgml": __version__, "torch": torch.__version__}


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(model: CGModel, path: str | os.PathLike,
                    train_state: dict[str, Any] | None = None,
                    metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and optionally the training state) to directory ``path`` atomically.

    Args:
        model: the model (a DDP wrapper is unwrapped by the caller).
        path: checkpoint directory (created or replaced).
        train_state: tensors / numbers / dicts / lists only (saved with ``torch.save``).
        metadata: JSON-serialisable extra information stored in ``config.json``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"),
                  metadata={"format": CHECKPOINT_FORMAT, "version": str(CHECKPOINT_VERSION)})
        config = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                  "model": model.config.to_dict(), "timestep_ps": float(model.dt),
                  "noise_draws": model.noise_draws, "software": _software(),
                  "metadata": metadata or {}}
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        (tmp / "statistics.json").write_text(json.dumps(model.statistics, indent=2))
        if train_state is not None:
            torch.save(train_state, tmp / "train_state.pt")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_checkpoint_config(path: str | os.PathLike) -> dict[str, Any]:
    """``config.json`` of a checkpoint directory, validated."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: checkpoint directory not found")
    cfg_path = path / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{cfg_path}: missing; is {path} a checkpoint directory?")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{cfg_path}: not valid JSON ({exc})") from exc
    if config.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{cfg_path}: 'format' is {config.get('format')!r}, expected "
                         f"{CHECKPOINT_FORMAT!r}")
    if int(config.get("version", 0)) != CHECKPOINT_VERSION:
        raise ValueError(f"{cfg_path}: checkpoint version {config.get('version')} is not "
                         f"supported (expected {CHECKPOINT_VERSION})")
    return config


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> CGModel:
    """Rebuild a :class:`CGModel` from a checkpoint directory (eval mode)."""
    path = Path(path)
    config = read_checkpoint_config(path)
    stats_path = path / "statistics.json"
    weights = path / "model.safetensors"
    for f in (stats_path, weights):
        if not f.exists():
            raise FileNotFoundError(f"{f}: missing from checkpoint {path}")
    statistics = json.loads(stats_path.read_text())
    model = CGModel(ModelConfig.from_dict(config["model"]), statistics or None)
    state = load_file(str(weights), device=str(map_location))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{weights}: weights do not match config.json (missing {missing}, "
                         f"unexpected {unexpected})")
    model.statistics = {k: float(v) for k, v in statistics.items()}
    return model.to(map_location).eval()


def load_train_state(path: str | os.PathLike,
                     map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """``train_state.pt`` of a checkpoint (for ``--resume``)."""
    f = Path(path) / "train_state.pt"
    if not f.exists():
        raise FileNotFoundError(f"{f}: no training state in this checkpoint (cannot resume)")
    return torch.load(f, map_location=map_location, weights_only=True)
