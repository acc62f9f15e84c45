"""One place that seeds every random number generator the package uses."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (if imported) torch; return a NumPy Generator for ``seed``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)
