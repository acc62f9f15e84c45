"""WindowDataset: window indices, shapes, strides, batching and statistics."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from openmm_cgml.datasets import WindowDataset, collate_windows, compute_statistics
from openmm_cgml.datasets.synthetic import (
    synthetic_mapping_dict,
    write_synthetic_chain,
    write_trajectory_file,
)


def _coded_positions(t: int, n: int, file_id: int) -> np.ndarray:
    """Positions that encode (file, frame, bead) so any window can be checked exactly."""
    frame = np.arange(t)[:, None, None]
    bead = np.arange(n)[None, :, None]
    axis = np.arange(3)[None, None, :]
    return (1000.0 * file_id + frame + 0.01 * bead + 0.0001 * axis).astype(np.float32)


@pytest.fixture()
def coded_files(tmp_path):
    sizes = [(30, 5), (17, 9), (8, 3)]  # (frames, beads)
    paths = []
    for f, (t, n) in enumerate(sizes):
        paths.append(write_trajectory_file(tmp_path / f"mol{f}.h5", _coded_positions(t, n, f),
                                           synthetic_mapping_dict(n, 2, seed=f), stride_ps=5.0))
    return paths, sizes


@pytest.mark.parametrize("k,horizon,stride,step", [(3, 1, 1, 1), (4, 2, 3, 2), (2, 1, 2, 5)])
def test_windows_indices_shapes_strides(coded_files, k, horizon, stride, step):
    paths, sizes = coded_files
    ds = WindowDataset(paths, history_length=k, horizon=horizon, frame_stride=stride,
                       window_step=step)
    span = (k + horizon - 1) * stride + 1
    expected = [max(0, (t - span) // step + 1) if t >= span else 0 for t, _ in sizes]
    assert ds.windows_per_file == expected
    assert len(ds) == sum(expected)
    assert ds.dt == pytest.approx(5.0 * stride)
    seen = 0
    for f, ((t, n), n_win) in enumerate(zip(sizes, expected, strict=True)):
        for w in range(n_win):
            sample = ds[seen + w]
            start = w * step
            frames = start + stride * np.arange(k + horizon)
            assert frames[-1] < t
            assert sample.frames.shape == (k + horizon, n, 3)
            assert sample.file_index == f and sample.start == start
            np.testing.assert_array_equal(ds.frame_indices(seen + w), frames)
            np.testing.assert_allclose(sample.frames, _coded_positions(t, n, f)[frames])
        seen += n_win
    with pytest.raises(IndexError):
        ds[len(ds)]
    np.testing.assert_array_equal(ds[-1].frames, ds[len(ds) - 1].frames)


def test_collate_molecules_of_different_sizes(coded_files):
    paths, sizes = coded_files
    ds = WindowDataset(paths, history_length=3)
    first = [0, ds.windows_per_file[0], ds.windows_per_file[0] + ds.windows_per_file[1]]
    samples = [ds[i] for i in first]
    b = collate_windows(samples)
    n = [s[1] for s in sizes]
    assert b.frames.shape == (4, sum(n), 3)
    assert b.num_graphs == 3
    assert torch.equal(b.batch, torch.repeat_interleave(torch.arange(3), torch.tensor(n)))
    # bonds / atoms shifted to global numbering, per molecule
    off = np.cumsum([0] + n)
    assert b.cg_bonds.shape == (2, sum(x - 1 for x in n))
    assert torch.equal(b.cg_bonds[:, n[0] - 1], torch.tensor([off[1], off[1] + 1]))
    assert torch.equal(b.batch[b.cg_bonds[0]], b.batch[b.cg_bonds[1]])
    assert b.atom_to_bead.shape == (2 * sum(n),)
    assert torch.equal(b.batch[b.atom_to_bead],
                       torch.repeat_interleave(torch.arange(3), 2 * torch.tensor(n)))
    assert int(b.atom_bonds.max()) == 2 * sum(n) - 1
    assert torch.equal(b.sample_index, torch.tensor(first))
    for g, s in enumerate(samples):
        np.testing.assert_array_equal(b.frames[:, off[g]:off[g + 1]].numpy(), s.frames)
    mass = b.bead_masses.double()
    expect = torch.zeros(sum(n), dtype=torch.float64).index_add_(0, b.atom_to_bead,
                                                                 b.atom_mass.double())
    torch.testing.assert_close(mass, expect, rtol=1e-6, atol=1e-4)


def test_dataloader_workers_read_lazily(tmp_path):
    for i in range(2):
        write_synthetic_chain(tmp_path / f"c{i}.h5", num_beads=4 + i, num_frames=20, seed=i,
                              substeps=10)
    ds = WindowDataset(tmp_path, history_length=3)
    assert ds._handles == {}  # nothing opened at construction
    loader = DataLoader(ds, batch_size=5, shuffle=False, num_workers=1,
                        collate_fn=collate_windows)
    batches = list(loader)
    assert sum(b.num_graphs for b in batches) == len(ds)
    ref = ds.collate(range(5))
    torch.testing.assert_close(batches[0].frames, ref.frames)


def test_statistics_match_direct_computation(tmp_path):
    write_synthetic_chain(tmp_path / "a.h5", num_beads=6, num_frames=30, seed=3, substeps=20)
    ds = WindowDataset(tmp_path, history_length=3, frame_stride=2)
    stats = compute_statistics(ds)
    with h5py.File(tmp_path / "a.h5") as fh:
        x = fh["bead_positions"][()].astype(np.float64)
    dt = 2 * 2.0
    vel, acc = [], []
    for w in range(len(ds)):
        fr = x[w: w + 7: 2]
        v = np.diff(fr, axis=0) / dt
        vel.append(v[:2])
        acc.append((fr[3] - 2 * fr[2] + fr[1]) / dt ** 2)
    assert stats["dt"] == pytest.approx(dt)
    assert stats["velocity_rms"] == pytest.approx(np.sqrt(np.mean(np.square(vel))), rel=1e-6)
    assert stats["acceleration_rms"] == pytest.approx(np.sqrt(np.mean(np.square(acc))), rel=1e-6)
    assert stats["displacement_rms"] == pytest.approx(stats["velocity_rms"] * dt)
    assert 0.3 < stats["bond_length_mean"] < 0.5


def test_bad_inputs_give_clear_errors(tmp_path, coded_files):
    paths, _ = coded_files
    with pytest.raises(FileNotFoundError, match="nope"):
        WindowDataset(tmp_path / "nope.h5", history_length=3)
    with pytest.raises(ValueError, match="history_length"):
        WindowDataset(paths, history_length=1)
    with pytest.raises(ValueError, match="long enough"):
        WindowDataset(paths[2], history_length=8)
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as fh:
        fh.attrs["format"] = "something-else"
    with pytest.raises(ValueError, match="format"):
        WindowDataset(bad, history_length=3)
    other_dt = write_trajectory_file(tmp_path / "dt.h5", _coded_positions(10, 3, 0),
                                     synthetic_mapping_dict(3), stride_ps=1.0)
    with pytest.raises(ValueError, match="time step"):
        WindowDataset([paths[0], other_dt], history_length=3)
    mapping = synthetic_mapping_dict(4)
    mapping["atom_to_bead"][0] = 7
    broken = write_trajectory_file(tmp_path / "m.h5", _coded_positions(10, 4, 0), mapping, 5.0)
    with pytest.raises(ValueError, match="atom_to_bead"):
        WindowDataset(broken, history_length=3)


def test_splits_json_selects_files(tmp_path, coded_files):
    paths, _ = coded_files
    (tmp_path / "splits.json").write_text(json.dumps(
        {"train": [paths[0].name, paths[1].name], "val": [paths[2].name], "test": []}))
    ds = WindowDataset(tmp_path, history_length=2, split="train")
    assert [p.name for p in ds.files] == [paths[0].name, paths[1].name]
    with pytest.raises(ValueError, match="split"):
        WindowDataset(tmp_path / "splits.json", history_length=2, split="nosuch")
