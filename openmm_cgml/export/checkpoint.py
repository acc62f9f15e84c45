"""Load a model checkpoint directory (model.safetensors + config.json + statistics.json)."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def load_checkpoint(directory: str | os.PathLike, device: str = "cpu") -> torch.nn.Module:
    """Rebuild a trained ``CGModel`` from a checkpoint directory (no pickled code is read).

    Accepts the directory, a file inside it (``model.safetensors``/``config.json``), or a
    ``cgml train`` output folder (its ``final/`` checkpoint, else ``best/``).
    Raises FileNotFoundError/ValueError naming the file that is missing or wrong.
    """
    path = Path(directory)
    if path.is_file() and path.name in ("model.safetensors", "config.json", "statistics.json"):
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint directory {path} does not exist "
                                "(a checkpoint is the folder written by `cgml train`)")
    if not (path / "config.json").is_file():
        for sub in ("final", "best"):  # a training output folder
            if (path / sub / "config.json").is_file():
                path = path / sub
                break
    from openmm_cgml.models import load_checkpoint as _load

    return _load(path, map_location=device).eval()
