"""Load a model checkpoint directory (model.safetensors + config.json + statistics.json)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

#: the files that define a trained model (a checkpoint folder may also hold train_state.pt)
MODEL_FILES = ("config.json", "model.safetensors", "statistics.json")


def checkpoint_directory(directory: str | os.PathLike) -> Path:
    """The checkpoint folder meant by ``directory``: the folder itself, the folder of a file
    inside it (``model.safetensors``/``config.json``), or a ``cgml train`` output folder's
    ``final/`` checkpoint (else ``best/``). FileNotFoundError if there is no such folder."""
    path = Path(directory)
    if path.is_file() and path.name in MODEL_FILES:
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint directory {path} does not exist "
                                "(a checkpoint is the folder written by `cgml train`)")
    if not (path / "config.json").is_file():
        for sub in ("final", "best"):  # a training output folder
            if (path / sub / "config.json").is_file():
                return path / sub
    return path


def checkpoint_fingerprint(directory: str | os.PathLike) -> str:
    """SHA-256 of the model files (:data:`MODEL_FILES`) of :func:`checkpoint_directory`:
    changes when the weights, config or statistics do, not with optimizer state or logs."""
    from openmm_cgml.utils import fingerprint

    return fingerprint(checkpoint_directory(directory), names=MODEL_FILES)


def run_identity(directory: str | os.PathLike, model: torch.nn.Module,
                 changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a resumable run of the model in ``directory`` must match: the SHA-256 of its
    weights and statistics (``model_files``) and its ``ModelConfig`` *with the run's*
    ``changes`` applied (``model_config``, e.g. ``{"refine_sampler": "posterior"}``), plus the
    time step (ps). Unlike :func:`checkpoint_fingerprint` it ignores ``config.json``'s metadata
    and config defaults the run overrides, so editing those does not refuse a paused run."""
    from openmm_cgml.utils import fingerprint

    config = model.config
    if changes:
        config = dataclasses.replace(config, **{k: v for k, v in changes.items()
                                                if v is not None})
    return {"model_files": fingerprint(checkpoint_directory(directory),
                                       names=("model.safetensors", "statistics.json")),
            "model_config": config.to_dict(),
            "timestep_ps": float(model.timestep_ps)}


def load_checkpoint(directory: str | os.PathLike, device: str = "cpu") -> torch.nn.Module:
    """Rebuild a trained ``CGModel`` from a checkpoint directory (no pickled code is read).

    Accepts the directory, a file inside it (``model.safetensors``/``config.json``), or a
    ``cgml train`` output folder (its ``final/`` checkpoint, else ``best/``;
    :func:`checkpoint_directory`).
    Raises FileNotFoundError/ValueError naming the file that is missing or wrong.
    """
    path = checkpoint_directory(directory)
    from openmm_cgml.models import load_checkpoint as _load

    return _load(path, map_location=device).eval()
