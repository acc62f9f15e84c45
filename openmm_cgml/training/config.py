"""Training configuration: one YAML file with ``data``, ``model`` and ``train`` sections.

Example (see ``examples/configs/``)::

    seed: 0
    output: runs/polymer_tiny
    data:
      train: data/polymer          # .h5 file(s), glob, directory, or splits.json
      train_split: train           # with a directory holding splits.json
      val: data/polymer
      val_split: val
      frame_stride: 1
    model: {family: plain, hidden: 32, layers: 2, history_length: 8}
    train: {max_steps: 500, batch_size: 8, lr: 2.0e-4}

Relative data paths (and ``train.init_from``) are resolved against the directory of the YAML
file first, then the current directory. Unknown keys are errors (typos never pass silently).
"""

from __future__ import annotations

import dataclasses
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from openmm_cgml.models import ModelConfig
from openmm_cgml.models.config import coerce_numbers


@dataclass
class DataConfig:
    """Where the trajectories are and how windows are cut.

    Attributes:
        train, val: trajectory files (a path, glob, directory, splits.json, or a list).
        train_split, val_split: split names when the path is a directory with splits.json.
        frame_stride: stored frames per model step (model dt = frame_stride * stride_ps).
        window_step: stored frames between consecutive window starts (training set).
        val_window_step: the same for the validation set.
        num_workers: DataLoader worker processes.
        statistics_samples: windows used by ``compute_statistics``.
    """

    train: Any = None
    val: Any = None
    train_split: str | None = None
    val_split: str | None = None
    frame_stride: int = 1
    window_step: int = 1
    val_window_step: int = 4
    num_workers: int = 0
    statistics_samples: int = 2000


@dataclass
class OptimConfig:
    """Optimisation and bookkeeping.

    Attributes:
        max_steps: optimizer steps (global: each step consumes ``batch_size`` windows on
            every process).
        batch_size: windows per process per step.
        lr, weight_decay, betas: AdamW.
        schedule: ``"cosine"`` (linear warm-up, cosine decay to ``lr * lr_min_ratio``) or
            ``"constant"`` (warm-up then constant).
        warmup_steps, lr_min_ratio: see ``schedule``.
        grad_clip: max global gradient norm (0 = off).
        amp: mixed precision (bfloat16 autocast) on/off.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        cpu_threads: torch intra-op threads per process (0 = torch's default). On a shared
            or oversubscribed CPU, 1 is often several times faster than the default.
        log_every, val_every, checkpoint_every: in steps.
        val_batches: validation batches per evaluation (0 = the whole validation set).
        keep_checkpoints: step checkpoints kept (the best and the final one are extra).
        rollout_steps, rollout_molecules: short validation rollouts (0 = off).
        collision_nm: non-bonded bead distance counted as a collision in rollouts.
        max_time_s: wall-clock budget of one run in seconds (0 = none), counted from the
            creation of the ``Trainer`` (data indexing, statistics and the loading of a start
            model included), so a job under an outer time limit ends in time. At every log
            step the step rate of the last few log intervals re-plans the run: ``max_steps``
            is set (never above the requested value) so that training ends within the
            budget, with the learning-rate schedule decaying over the planned run and the
            ``final`` checkpoint written as usual.
        init_from: a model folder (``config.json`` + ``statistics.json`` +
            ``model.safetensors``: a checkpoint of ``cgml train`` or a shipped model's
            folder) whose weights and normalisation statistics start the run instead of a
            random initialisation: fine-tuning. Its architecture (``ModelConfig.architecture``)
            must be the model section's; loss weights, input noise and sampler may differ.
            The optimizer and schedule start afresh. Ignored by ``--resume``.
    """

    max_steps: int = 1000
    batch_size: int = 8
    lr: float = 2e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"
    warmup_steps: int = 100
    lr_min_ratio: float = 0.05
    grad_clip: float = 1.0
    amp: bool = False
    device: str = "auto"
    cpu_threads: int = 0
    log_every: int = 10
    val_every: int = 200
    val_batches: int = 20
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    rollout_steps: int = 20
    rollout_molecules: int = 2
    collision_nm: float = 0.1
    max_time_s: float = 0.0
    init_from: str | None = None


@dataclass
class TrainConfig:
    """The whole training run (``cgml train config.yaml``)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    output: str = "runs/cgml"
    source: str | None = None  # the YAML file it came from (set by load_train_config)

    def validate(self) -> None:
        t = self.train
        positive = ("max_steps", "batch_size", "log_every", "val_every", "checkpoint_every",
                    "keep_checkpoints")
        for name in positive:
            if int(getattr(t, name)) < 1:
                raise ValueError(f"train.{name} must be >= 1 (got {getattr(t, name)})")
        if t.schedule not in ("cosine", "constant"):
            raise ValueError(f"train.schedule must be 'cosine' or 'constant' (got {t.schedule!r})")
        if not t.lr > 0:
            raise ValueError(f"train.lr must be > 0 (got {t.lr})")
        if t.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"train.device must be auto, cpu or cuda (got {t.device!r})")
        if self.data.train is None:
            raise ValueError("data.train: give the training trajectories (files, directory, "
                             "glob or splits.json)")
        for name in ("frame_stride", "window_step", "val_window_step"):
            if int(getattr(self.data, name)) < 1:
                raise ValueError(f"data.{name} must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        out = {"seed": self.seed, "output": self.output,
               "data": dataclasses.asdict(self.data), "model": self.model.to_dict(),
               "train": dataclasses.asdict(self.train)}
        out["train"]["betas"] = list(self.train.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> TrainConfig:
        where = source or "config"
        known = {"data", "model", "train", "seed", "output"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown top-level keys {unknown} (valid: {sorted(known)})")

        def section(klass: type, key: str) -> Any:
            values = data.get(key) or {}
            if not isinstance(values, dict):
                raise ValueError(f"{where}: section '{key}' must be a mapping")
            names = {f.name for f in dataclasses.fields(klass)}
            bad = sorted(set(values) - names)
            if bad:
                raise ValueError(f"{where}: unknown keys in '{key}': {bad} "
                                 f"(valid: {sorted(names)})")
            if klass is OptimConfig and "betas" in values:
                values = {**values, "betas": tuple(float(b) for b in values["betas"])}
            try:
                obj = klass(**values)
                coerce_numbers(obj, key)
                return obj
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: section '{key}': {exc}") from exc

        try:
            model = ModelConfig.from_dict(data.get("model") or {})
        except ValueError as exc:
            raise ValueError(f"{where}: section 'model': {exc}") from exc
        cfg = cls(data=section(DataConfig, "data"), model=model,
                  train=section(OptimConfig, "train"), seed=int(data.get("seed", 0)),
                  output=str(data.get("output", "runs/cgml")), source=source)
        cfg.validate()
        return cfg


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ValueError(f"--set {key}: '{p}' is not a section")
    node[parts[-1]] = value


def load_train_config(path: str | os.PathLike, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML training config; ``overrides`` are ``"section.key=value"`` strings."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: training config not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected section.key=value")
        key, value = item.split("=", 1)
        _set_dotted(data, key.strip(), yaml.safe_load(value))
    base = path.resolve().parent
    d = data.get("data") or {}
    for key in ("train", "val"):
        if d.get(key) is not None:
            d[key] = _resolve_paths(d[key], base)
    t = data.get("train") or {}
    if t.get("init_from") is not None:
        t["init_from"] = _resolve_paths(t["init_from"], base)
    return TrainConfig.from_dict(data, source=str(path))


def _resolve_paths(spec: Any, base: Path) -> Any:
    if isinstance(spec, list):
        return [_resolve_paths(s, base) for s in spec]
    p = Path(str(spec))
    if any(ch in str(spec) for ch in "*?["):  # glob: relative to the cwd if it matches there
        return str(spec) if p.is_absolute() or glob.glob(str(spec)) else str(base / p)
    if p.is_absolute() or p.exists():
        return str(p)
    candidate = base / p
    return str(candidate) if candidate.exists() else str(p)
