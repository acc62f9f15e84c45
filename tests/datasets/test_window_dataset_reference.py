"""WindowDataset on files from the reference layer (its writer and the shipped polymer set)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from openmm_cgml.datasets import WindowDataset, collate_windows, compute_statistics
from openmm_cgml.datasets.synthetic import synthetic_mapping_dict, write_trajectory_file
from openmm_cgml.reference.storage import TrajectoryFile

POLYMER = Path(__file__).resolve().parents[1] / "data" / "polymer"


@pytest.mark.skipif(not (POLYMER / "splits.json").exists(), reason="no shipped polymer set")
def test_shipped_polymer_set_splits_and_windows():
    splits = json.loads((POLYMER / "splits.json").read_text())
    train = WindowDataset(POLYMER, history_length=5, split="train", frame_stride=2)
    val = WindowDataset(POLYMER, history_length=5, split="val", frame_stride=2)
    assert [p.name for p in train.files] == splits["train"]
    assert not {p.name for p in train.files} & {p.name for p in val.files}
    with TrajectoryFile(train.files[0]) as traj:
        stride = float(traj.attrs["stride_ps"])
        n_frames = len(traj)
        first = np.asarray(traj.bead_positions[0:11:2])  # k + 1 = 6 frames, every 2nd
    assert train.dt == pytest.approx(2 * stride)
    assert train.num_frames[0] == n_frames
    assert train.windows_per_file[0] == n_frames - 10  # span (5 + 1 - 1) * 2 + 1 = 11
    np.testing.assert_array_equal(train[0].frames, first)
    sizes = {g.num_beads for g in train.graphs}
    assert len(sizes) > 1  # chains of different lengths
    batch = collate_windows([train[0], train[len(train) - 1]])
    assert batch.num_beads == train.graphs[0].num_beads + train.graphs[-1].num_beads
    stats = compute_statistics(train, max_samples=200)
    # polymer units (CONTRACTS.md section 3): bonds near sigma = 0.5 nm .. 1 nm
    assert 0.3 < stats["bond_length_mean"] < 1.2
    assert stats["velocity_rms"] > 0 and stats["acceleration_rms"] > 0


def test_interrupted_append_uses_complete_frames_only(tmp_path):
    """Frames past the length of /time (an append cut short) are never read."""
    pos = np.random.default_rng(0).normal(size=(12, 4, 3)).astype(np.float32)
    path = write_trajectory_file(tmp_path / "x.h5", pos, synthetic_mapping_dict(4), 2.0)
    with h5py.File(path, "r+") as fh:  # what a writer killed mid-append leaves behind
        fh["bead_positions"].resize(15, axis=0)
        fh["bead_positions"][12:] = np.nan
    ds = WindowDataset(path, history_length=3)
    assert ds.num_frames == [12]
    assert len(ds) == 12 - 3
    for i in range(len(ds)):
        assert np.isfinite(ds[i].frames).all()
