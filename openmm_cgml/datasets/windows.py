"""A torch ``Dataset`` of trajectory windows read lazily from CGML trajectory files.

Each sample is a window of ``k + horizon`` bead frames taken every ``frame_stride``
stored frames: ``k`` history frames (oldest first, the last one is "now") and the
``horizon`` frames that follow (``horizon = 1``: the next frame, the training target).
Files follow CONTRACTS.md section 3 (``/bead_positions`` float32 [T, N, 3] nm,
``/mapping`` BeadMapping JSON, root attribute ``stride_ps``) and are read through
``openmm_cgml.reference.storage.TrajectoryFile``; only the header and mapping are read at
construction, frames are read on demand, so datasets larger than memory work
and each ``DataLoader`` worker opens its own file handles.
"""

from __future__ import annotations

import bisect
import glob
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from openmm_cgml.datasets.graph import GraphBatch, MoleculeGraph, WindowSample, collate_windows
from openmm_cgml.reference.storage import TrajectoryFile


def resolve_files(spec: str | os.PathLike | Iterable[str | os.PathLike],
                  split: str | None = None) -> list[Path]:
    """Turn a file list / glob / directory / ``splits.json`` into a sorted list of ``.h5`` files.

    ``spec`` may be: a path to one ``.h5`` file; a directory (all ``*.h5`` inside, or the
    files listed under ``split`` in its ``splits.json`` when ``split`` is given); a
    ``splits.json`` path (needs ``split``); a glob pattern; or a list of any of these.
    """
    if not isinstance(spec, (str, os.PathLike)):
        out: list[Path] = []
        for item in spec:
            out.extend(resolve_files(item, split))
        return out
    path = Path(spec)
    if path.is_dir():
        splits = path / "splits.json"
        if split is not None:
            if not splits.exists():
                raise FileNotFoundError(f"{path}: no splits.json, cannot select split {split!r}")
            return resolve_files(splits, split)
        files = sorted(path.glob("*.h5"))
        if not files:
            raise FileNotFoundError(f"{path}: directory holds no *.h5 trajectory files")
        return files
    if path.suffix == ".json":
        if not path.exists():
            raise FileNotFoundError(f"{path}: splits file not found")
        if split is None:
            raise ValueError(f"{path}: give the split to read (train/val/test)")
        splits = json.loads(path.read_text())
        if split not in splits:
            raise ValueError(f"{path}: has no split {split!r} (has {sorted(splits)})")
        return [path.parent / name for name in splits[split]]
    if path.exists():
        return [path]
    matches = sorted(Path(p) for p in glob.glob(str(spec)))
    if not matches:
        raise FileNotFoundError(f"{spec}: no such trajectory file (or glob without matches)")
    return matches


class WindowDataset(Dataset):
    """Windows of ``history_length + horizon`` frames over many trajectory files.

    Args:
        files: trajectory files (anything :func:`resolve_files` accepts).
        history_length: k, number of history frames (>= 2: velocities are finite
            differences of consecutive frames).
        horizon: number of future frames per sample (1 = next frame only).
        frame_stride: s, take every s-th stored frame; the model time step is
            ``dt = s * stride_ps``.
        window_step: stored frames between the starts of consecutive windows
            (1 = every possible window; larger values thin out correlated windows).
        split: with a directory / ``splits.json`` in ``files``, the split to read.

    Window ``i`` of file ``f`` holds stored frames
    ``start + s * j`` for ``j = 0 .. k + horizon - 1`` with ``start = i * window_step``.
    """

    def __init__(self, files: str | os.PathLike | Sequence[str | os.PathLike],
                 history_length: int, horizon: int = 1, frame_stride: int = 1,
                 window_step: int = 1, split: str | None = None) -> None:
        if history_length < 2:
            raise ValueError(f"history_length must be >= 2 (got {history_length}): velocities "
                             "are differences of consecutive frames")
        if horizon < 1 or frame_stride < 1 or window_step < 1:
            raise ValueError("horizon, frame_stride and window_step must be >= 1")
        self.files = resolve_files(files, split)
        if not self.files:
            raise ValueError("WindowDataset: no trajectory files given")
        self.history_length = int(history_length)
        self.horizon = int(horizon)
        self.frame_stride = int(frame_stride)
        self.window_step = int(window_step)
        self.frames_per_window = self.history_length + self.horizon
        self.span = (self.frames_per_window - 1) * self.frame_stride + 1
        self.graphs: list[MoleculeGraph] = []
        self.names: list[str] = []
        self.num_frames: list[int] = []
        self.windows_per_file: list[int] = []
        dts: list[float] = []
        for path in self.files:
            graph, n_frames, stride_ps, name = self._read_header(path)
            self.graphs.append(graph)
            self.num_frames.append(n_frames)
            self.names.append(name)
            dts.append(stride_ps * self.frame_stride)
            n_win = 0 if n_frames < self.span else (n_frames - self.span) // self.window_step + 1
            self.windows_per_file.append(n_win)
        for path, dt in zip(self.files, dts, strict=True):
            if not np.isclose(dt, dts[0], rtol=1e-6):
                raise ValueError(f"{path}: time step {dt} ps differs from {dts[0]} ps of "
                                 f"{self.files[0]}; use files with one stride_ps (or separate "
                                 "datasets)")
        self.dt = float(dts[0])
        self._offsets = np.concatenate([[0], np.cumsum(self.windows_per_file)]).astype(np.int64)
        if self._offsets[-1] == 0:
            raise ValueError(f"no file is long enough for a window of {self.span} stored frames "
                             f"(history_length={history_length}, horizon={horizon}, "
                             f"frame_stride={frame_stride}); longest file has "
                             f"{max(self.num_frames)} frames")
        self._handles: dict[int, TrajectoryFile] = {}
        self._pid = os.getpid()

    # -- reading -----------------------------------------------------------------------
    @staticmethod
    def _read_header(path: Path) -> tuple[MoleculeGraph, int, float, str]:
        if not path.exists():
            raise FileNotFoundError(f"{path}: trajectory file not found")
        with TrajectoryFile(path) as traj:
            attrs = traj.attrs
            if "stride_ps" not in attrs:
                raise ValueError(f"{path}: missing root attribute 'stride_ps'")
            stride_ps = float(attrs["stride_ps"])
            if not stride_ps > 0:
                raise ValueError(f"{path}: stride_ps must be > 0 (got {stride_ps})")
            pos = traj.bead_positions
            if pos.ndim != 3 or pos.shape[2] != 3:
                raise ValueError(f"{path}: /bead_positions has shape {pos.shape}, "
                                 "expected [T, num_beads, 3]")
            try:
                mapping = traj.mapping_dict
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}: cannot read /mapping ({exc})") from exc
            graph = MoleculeGraph.from_mapping(mapping, f"{path}:/mapping")
            if graph.num_beads != pos.shape[1]:
                raise ValueError(f"{path}: /bead_positions has {pos.shape[1]} beads but the "
                                 f"mapping has {graph.num_beads}")
            name = str(attrs.get("name", path.stem))
            # len() = length of /time = number of complete frames (the writer grows
            # /bead_positions first, /time last)
            n_frames = min(len(traj), int(pos.shape[0]))
            return graph, n_frames, stride_ps, name

    def _positions(self, file_index: int) -> Any:
        """The lazily sliced ``/bead_positions`` dataset of a file (one handle per process)."""
        if os.getpid() != self._pid:  # forked DataLoader worker: never share HDF5 handles
            self._handles = {}
            self._pid = os.getpid()
        traj = self._handles.get(file_index)
        if traj is None:
            traj = TrajectoryFile(self.files[file_index])
            self._handles[file_index] = traj
        return traj.bead_positions

    def close(self) -> None:
        """Close the open file handles (they are reopened on demand)."""
        for fh in self._handles.values():
            fh.close()
        self._handles = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- indexing ----------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """Map a dataset index to ``(file_index, first stored frame of the window)``."""
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"window index {index} out of range for {len(self)} windows")
        f = bisect.bisect_right(self._offsets, index) - 1
        return f, int(index - self._offsets[f]) * self.window_step

    def frame_indices(self, index: int) -> np.ndarray:
        """Stored frame indices of window ``index`` (int64 [k + horizon])."""
        _, start = self.locate(index)
        return start + self.frame_stride * np.arange(self.frames_per_window, dtype=np.int64)

    def __getitem__(self, index: int) -> WindowSample:
        f, start = self.locate(int(index))
        stop = start + self.span
        frames = self._positions(f)[start:stop:self.frame_stride]
        if not np.all(np.isfinite(frames)):
            raise ValueError(f"{self.files[f]}: non-finite bead positions in frames "
                             f"{start}..{stop - 1}")
        return WindowSample(frames=np.asarray(frames, dtype=np.float32), graph=self.graphs[f],
                            dt=self.dt, index=int(index) if index >= 0 else int(index) + len(self),
                            file_index=f, start=start)

    def read_frames(self, file_index: int, start: int, count: int) -> np.ndarray:
        """``count`` frames at this dataset's stride from ``start`` (float32 [count, N, 3] nm)."""
        stop = start + (count - 1) * self.frame_stride + 1
        if stop > self.num_frames[file_index]:
            raise ValueError(f"{self.files[file_index]}: asked for frames up to {stop - 1}, file "
                             f"has {self.num_frames[file_index]}")
        data = self._positions(file_index)[start:stop:self.frame_stride]
        return np.asarray(data, dtype=np.float32)

    def collate(self, indices: Sequence[int]) -> GraphBatch:
        """Convenience: ``collate_windows([self[i] for i in indices])``."""
        return collate_windows([self[int(i)] for i in indices])


def _window_kinematics(frames: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Velocities [F-1, N, 3] nm/ps and accelerations [F-2, N, 3] nm/ps^2 by finite differences."""
    vel = (frames[1:] - frames[:-1]) / dt
    acc = (vel[1:] - vel[:-1]) / dt
    return vel, acc


def compute_statistics(dataset: WindowDataset, max_samples: int = 2000,
                       seed: int = 0) -> dict[str, float]:
    """Scales used to normalise model inputs and targets, from up to ``max_samples`` windows.

    All scales are isotropic (one number for x, y, z) so that normalisation keeps the
    equivariant model equivariant. Returned keys (units in brackets):
    ``dt`` [ps], ``history_length``, ``velocity_rms`` [nm/ps] (RMS of a velocity
    component over history frames), ``acceleration_rms`` [nm/ps^2] (RMS of the target
    acceleration component, ``(x[k] - 2 x[k-1] + x[k-2]) / dt^2``), ``acceleration_mean``
    [nm/ps^2] (norm of the mean acceleration vector, for information), ``displacement_rms``
    [nm] (RMS per-frame displacement component), ``bond_length_mean``/``bond_length_std``
    [nm] (CG bonds), ``num_windows`` (used), ``mean_beads`` (per molecule).
    """
    n = len(dataset)
    rng = np.random.default_rng(seed)
    idx = np.arange(n) if n <= max_samples else np.sort(rng.choice(n, max_samples, replace=False))
    k = dataset.history_length
    dt = dataset.dt
    v2 = a2 = 0.0
    a_sum = np.zeros(3)
    nv = na = 0
    bond_l: list[np.ndarray] = []
    beads = 0
    for i in idx:
        s = dataset[int(i)]
        fr = torch.from_numpy(s.frames.astype(np.float64))
        vel, acc = _window_kinematics(fr[: k + 1], dt)
        v2 += float((vel[: k - 1] ** 2).sum())
        nv += vel[: k - 1].numel()
        target = acc[k - 2]
        a2 += float((target ** 2).sum())
        a_sum += target.sum(0).numpy()
        na += target.numel()
        beads += s.graph.num_beads
        if s.graph.cg_bonds.size:
            b = s.graph.cg_bonds
            bond_l.append(np.linalg.norm(s.frames[k - 1, b[:, 0]] - s.frames[k - 1, b[:, 1]],
                                         axis=-1))
    bl = np.concatenate(bond_l) if bond_l else np.zeros(1)
    vel_rms = float(np.sqrt(v2 / max(nv, 1)))
    acc_rms = float(np.sqrt(a2 / max(na, 1)))
    if not (vel_rms > 0 and acc_rms > 0):
        raise ValueError("compute_statistics: the trajectories do not move (zero velocity or "
                         "acceleration scale); check the data files")
    return {
        "dt": dt,
        "history_length": float(k),
        "velocity_rms": vel_rms,
        "acceleration_rms": acc_rms,
        "acceleration_mean": float(np.linalg.norm(a_sum / max(na // 3, 1))),
        "displacement_rms": vel_rms * dt,
        "bond_length_mean": float(bl.mean()),
        "bond_length_std": float(bl.std()),
        "num_windows": float(len(idx)),
        "mean_beads": beads / max(len(idx), 1),
    }
