"""The test chains of a `cgml generate polymer` folder, for repair.py and tail.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from openmm_cgml.evaluation.data import Trajectories, load_trajectories
from openmm_cgml.reference.storage import TrajectoryFile


def load_chains(data: str) -> tuple[list[str], dict[str, Trajectories], list, list[np.ndarray]]:
    """(names, trajectories by name, bead mappings, first run's frames [T, N, 3] nm float32),
    the last two in the order of the names (= of the sorted files)."""
    files = sorted(Path(data).glob("poly_*.h5"))
    refs = load_trajectories(files)
    names = sorted(refs)
    mappings = []
    for f in files:
        with TrajectoryFile(f) as tf:
            mappings.append(tf.mapping)
    return names, refs, mappings, [refs[n].runs[0].astype(np.float32) for n in names]
