"""End-to-end training: ``cgml train config.yaml`` (AdamW, LR schedule, gradient clipping,
optional bfloat16 autocast, seeds, atomic checkpoints, ``--resume``, validation loss and
rollouts, metrics CSV, DDP through torchrun)."""

from openmm_cgml.training.config import (
    DataConfig,
    OptimConfig,
    TrainConfig,
    load_train_config,
)
from openmm_cgml.training.trainer import Trainer, train, validation_rollouts

__all__ = ["DataConfig", "OptimConfig", "TrainConfig", "Trainer", "load_train_config", "train",
           "validation_rollouts"]
