"""Load a model checkpoint directory (model.safetensors + config.json [+ statistics.json])."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch


def load_checkpoint(directory: str | os.PathLike, device: str = "cpu") -> torch.nn.Module:
    """Rebuild a trained ``CGModel`` from a checkpoint directory (no pickled code is read).

    The directory holds ``config.json`` (``ModelConfig.to_dict()``), ``model.safetensors``
    (the state dict) and optionally ``statistics.json`` (normalisation statistics).
    Raises FileNotFoundError/ValueError naming the file that is missing or wrong.
    """
    path = Path(directory)
    if path.is_file() and path.name in ("model.safetensors", "config.json"):
        path = path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint directory {path} does not exist")
    for name in ("config.json", "model.safetensors"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name} is missing: a checkpoint directory holds "
                                    "config.json and model.safetensors (written by `cgml train`)")
    from openmm_cgml.models import CGModel, ModelConfig

    loader = getattr(CGModel, "load", None) or getattr(CGModel, "from_checkpoint", None)
    if loader is not None:
        model = loader(path)
    else:  # pragma: no cover - depends on the models layer's API
        from safetensors.torch import load_file

        try:
            config = ModelConfig.from_dict(json.loads((path / "config.json").read_text()))
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise ValueError(f"{path / 'config.json'} is not a valid model config: {exc}") from exc
        stats_file = path / "statistics.json"
        stats = json.loads(stats_file.read_text()) if stats_file.is_file() else None
        model = CGModel(config, statistics=stats) if stats is not None else CGModel(config)
        model.load_state_dict(load_file(str(path / "model.safetensors")))
    return model.to(device).eval()
