"""Pretrained CG models shipped inside the package (loadable offline).

Each model is a folder ``openmm_cgml/pretrained/<name>/`` holding ``model.safetensors``,
``config.json``, ``statistics.json`` (a ``cgml train`` checkpoint), ``card.json``
(machine-readable model card: mapping scheme, temperature, data, command, seed, training
time, status, evaluation) and ``MODEL_CARD.md`` (the same for people).

    >>> import openmm_cgml
    >>> openmm_cgml.list_models()          # doctest: +SKIP
    >>> model = openmm_cgml.load_model()   # the default model
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from openmm_cgml.pretrained.model import CARD_FILE, CGMLModel

PRETRAINED_DIR = Path(__file__).resolve().parent
#: the model ``load_model()`` returns
DEFAULT_MODEL = "protein-residue"

__all__ = ["CGMLModel", "DEFAULT_MODEL", "PRETRAINED_DIR", "list_models", "load_model",
           "model_path", "model_card"]


def _shipped() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for sub in sorted(PRETRAINED_DIR.iterdir()):
        if (sub / "model.safetensors").is_file() and (sub / "config.json").is_file():
            out[sub.name] = sub
    return out


def list_models() -> list[dict[str, Any]]:
    """The shipped models: one dict per model with ``name``, ``default``, ``kind``, ``status``,
    ``description``, ``timestep_ps``, ``size_mb`` (weights file) and ``path``."""
    rows = []
    for name, path in _shipped().items():
        card = model_card(name)
        rows.append({
            "name": name,
            "default": name == DEFAULT_MODEL,
            "kind": card.get("kind", ""),
            "status": card.get("status", ""),
            "description": card.get("description", ""),
            "timestep_ps": card.get("timestep_ps"),
            "size_mb": round((path / "model.safetensors").stat().st_size / 1e6, 3),
            "path": str(path),
        })
    return rows


def model_card(name: str | None = None) -> dict[str, Any]:
    """The machine-readable card (``card.json``) of a shipped model (``{}`` if it has none)."""
    path = model_path(name)
    card_file = path / CARD_FILE
    if not card_file.is_file():
        return {}
    try:
        return json.loads(card_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{card_file} is not valid JSON: {exc}") from exc


def model_path(name: str | os.PathLike | None) -> Path:
    """Folder of a model: ``None`` = the default, a shipped model name, or a checkpoint
    folder (returned as given); ``ValueError`` naming the shipped models otherwise."""
    shipped = _shipped()
    if name is None:
        if DEFAULT_MODEL not in shipped:
            raise FileNotFoundError(
                f"the default model {DEFAULT_MODEL!r} is missing from {PRETRAINED_DIR}; "
                "reinstall openmm-cgml (the weights ship inside the package)")
        return shipped[DEFAULT_MODEL]
    if isinstance(name, str) and name in shipped:
        return shipped[name]
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    available = ", ".join(shipped) or "(none installed)"
    raise ValueError(f"unknown model {str(name)!r}: give a shipped model name ({available}) "
                     "or a checkpoint folder written by `cgml train`")


def load_model(name: str | os.PathLike | None = None) -> CGMLModel:
    """Load a model: ``None`` = the default, a shipped model name, or a checkpoint folder.

    Works offline: the weights are read from the package (or the given folder).
    """
    path = model_path(name)
    return CGMLModel.from_directory(path, name=path.name)
