"""Shared fixtures of the model tests: windows of two short chains."""

from __future__ import annotations

import pytest

from openmm_cgml.datasets import WindowDataset, compute_statistics
from openmm_cgml.datasets.synthetic import write_synthetic_chain

#: frames after the history in the multi-step windows of ``multi_step_windows``
HORIZON = 3


@pytest.fixture(scope="module")
def multi_step_windows(tmp_path_factory):
    """``(one, multi, stats)``: windows of k + 1 and of k + HORIZON frames (every start frame)
    of two synthetic chains (6 and 5 beads, 20 frames), and their statistics."""
    root = tmp_path_factory.mktemp("windows")
    write_synthetic_chain(root / "a.h5", num_beads=6, num_frames=20, seed=4)
    write_synthetic_chain(root / "b.h5", num_beads=5, num_frames=20, seed=5)
    one = WindowDataset(root, history_length=3, window_step=1)
    multi = WindowDataset(root, history_length=3, horizon=HORIZON, window_step=1)
    return one, multi, compute_statistics(one)
