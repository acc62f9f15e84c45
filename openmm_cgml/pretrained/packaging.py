"""Turn a ``cgml train`` checkpoint into a shipped model folder (weights + model card).

    write_model_folder("runs/protein/final", "openmm_cgml/pretrained/protein-residue",
                       card={"name": "protein-residue", "kind": "protein", ...})

copies ``model.safetensors``, ``config.json`` and ``statistics.json``, writes ``card.json``
(machine-readable) and renders ``MODEL_CARD.md`` (the same, for people). The folder is
written to a temporary sibling and renamed, so a failure never leaves half a model behind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from openmm_cgml.pretrained.model import CARD_FILE

CHECKPOINT_FILES = ("model.safetensors", "config.json", "statistics.json")
REQUIRED_CARD_KEYS = ("name", "kind", "status", "description", "mapping", "timestep_ps",
                      "training")


def _lines(value: Any, indent: str = "") -> list[str]:
    """Markdown bullet lines of a (nested) card value."""
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{indent}- **{key}**:")
                out.extend(_lines(item, indent + "  "))
            else:
                out.append(f"{indent}- **{key}**: {item}")
        return out
    if isinstance(value, list):
        return [f"{indent}- {item}" for item in value]
    return [f"{indent}- {value}"]


def render_model_card(card: dict[str, Any]) -> str:
    """``MODEL_CARD.md`` text for a card dict (see :data:`REQUIRED_CARD_KEYS`)."""
    parts = [f"# {card.get('name', 'model')}", "", str(card.get("description", "")), "",
             f"Status: {card.get('status', '')}", ""]
    basics = {k: card[k] for k in ("kind", "mapping", "temperature_K", "timestep_ps",
                                   "history_length", "num_parameters") if k in card}
    parts += ["## Model", "", *_lines(basics), ""]
    for title, key in (("Training", "training"), ("Evaluation", "evaluation")):
        parts += [f"## {title}", ""]
        value = card.get(key)
        parts += _lines(value) if value else ["- (none recorded)"]
        parts.append("")
    parts += ["## Use", "", "```python", "import openmm_cgml",
              f"model = openmm_cgml.load_model({card.get('name', '')!r})",
              "cg = model.map('protein.pdb')",
              "system, integrator = model.create_system(cg), model.create_integrator(cg, seed=1)",
              "```", ""]
    return "\n".join(parts)


def write_model_folder(checkpoint: str | os.PathLike, folder: str | os.PathLike,
                       card: dict[str, Any]) -> Path:
    """Copy a checkpoint into ``folder`` with ``card.json`` and ``MODEL_CARD.md``.

    ``checkpoint``: a ``cgml train`` checkpoint folder. ``card`` must hold
    :data:`REQUIRED_CARD_KEYS`. Raises ``FileNotFoundError``/``ValueError`` naming what is
    missing; ``folder`` is replaced atomically (temporary sibling + rename).
    """
    src, dst = Path(checkpoint), Path(folder)
    missing = [f for f in CHECKPOINT_FILES if not (src / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{src}: not a cgml checkpoint (missing {', '.join(missing)})")
    absent = [k for k in REQUIRED_CARD_KEYS if k not in card]
    if absent:
        raise ValueError(f"model card for {dst.name} lacks {', '.join(absent)}")
    tmp = dst.with_name(f".{dst.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name in CHECKPOINT_FILES:
        shutil.copyfile(src / name, tmp / name)  # new file: ordinary permissions
    (tmp / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    (tmp / "MODEL_CARD.md").write_text(render_model_card(card))
    old = dst.with_name(f".{dst.name}.old")
    if dst.exists():
        if old.exists():
            shutil.rmtree(old)
        dst.rename(old)
    tmp.rename(dst)
    if old.exists():
        shutil.rmtree(old)
    return dst
