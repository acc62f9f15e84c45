"""HDF5 trajectory files: one molecule, frames at the coarse-grained stride.

Layout (docs/CONTRACTS.md section 3)::

    /                   attrs: format="openmm-cgml-trajectory", version=1, kind, name,
                               temperature_K, stride_ps, fine_timestep_ps, seed, forcefield,
                               units (JSON), software (JSON), composition (JSON, polymers), ...
    /mapping            scalar string: BeadMapping JSON
    /atom_topology_pdb  scalar string: all-atom PDB text of the first frame
    /bead_positions     float32 [T, num_beads, 3] nm, chunked, maxshape (None, num_beads, 3)
    /time               float64 [T] ps
    /atom_positions     optional float32 [T, n_atoms, 3] nm

Writing is safe against interruption: the file is created complete (header, no frames)
in a temporary file and renamed into place; frames are then appended in blocks, each
block in one short open/append/close with SIGINT/SIGTERM held back until the file is
closed, so Ctrl-C or a batch system's SIGTERM never leaves a half-written block. The
number of frames is the length of ``/time``; a writer that resumes from a checkpoint
truncates any frames written after that checkpoint (:func:`truncate_frames`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from openmm_cgml.utils import atomic_path

FORMAT = "openmm-cgml-trajectory"
VERSION = 1
UNITS: dict[str, str] = {
    "positions": "nm",
    "time": "ps",
    "temperature": "K",
    "mass": "amu",
    "energy": "kJ/mol",
}
#: attributes stored as JSON strings (decoded by :class:`TrajectoryFile`, as is any other
#: string attribute that holds a JSON object or list)
JSON_ATTRS = ("units", "software", "composition", "simulation", "reduced_units")
_CHUNK_FRAMES = 64


def software_versions() -> dict[str, str]:
    """Versions of the packages that produced a file (read from package metadata)."""
    out: dict[str, str] = {}
    for name in ("openmm-cgml", "openmm", "numpy", "h5py", "pdbfixer", "mdtraj", "torch"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    if "openmm" in out:
        try:
            import openmm

            out["openmm"] = openmm.__version__
        except ImportError:  # pragma: no cover
            pass
    if "openmm-cgml" not in out:
        from openmm_cgml import __version__

        out["openmm-cgml"] = __version__
    return out


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM for the duration of the block, then deliver them.

    Used around every write so that an interrupted run never leaves a file half-written.
    Outside the main thread (where handlers cannot be installed) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    old: dict[int, Any] = {}

    def _hold(signum: int, frame: Any) -> None:  # noqa: ARG001
        received.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, _hold)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(received):
            handler = old[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), sig)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def create_trajectory(
    path: str | os.PathLike,
    *,
    mapping: Any,
    atom_topology_pdb: str,
    attrs: Mapping[str, Any],
    save_atoms: bool = False,
    compression: str | None = "gzip",
) -> Path:
    """Create an empty trajectory file (header, mapping, zero frames) atomically.

    Args:
        path: the ``.h5`` file to create (overwritten if it exists).
        mapping: a ``BeadMapping`` (anything with ``to_dict()``, ``num_beads``, ``num_atoms``)
            or its dict form.
        atom_topology_pdb: PDB text of the all-atom (fine) topology.
        attrs: root attributes; must contain ``kind``, ``name``, ``temperature_K``,
            ``stride_ps``, ``fine_timestep_ps``, ``seed``, ``forcefield``. Dicts under
            ``units``/``software``/``composition``/``simulation`` are stored as JSON.
        save_atoms: also create ``/atom_positions`` [T, n_atoms, 3].
        compression: h5py compression filter for the frame datasets (``None`` = off).
    """
    required = ("kind", "name", "temperature_K", "stride_ps", "fine_timestep_ps", "seed",
                "forcefield")
    missing = [k for k in required if k not in attrs]
    if missing:
        raise ValueError(f"trajectory attributes missing: {', '.join(missing)}")
    if isinstance(mapping, dict):
        mdict = mapping
    else:
        try:
            mdict = mapping.to_dict(include_frames=False)
        except TypeError:
            mdict = mapping.to_dict()
    num_beads = int(mdict.get("num_beads", getattr(mapping, "num_beads", 0)))
    num_atoms = int(mdict.get("num_atoms", getattr(mapping, "num_atoms", 0)))
    if num_beads <= 0 or num_atoms <= 0:
        raise ValueError("mapping has no beads/atoms (num_beads and num_atoms must be > 0)")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        merged = {"units": UNITS, "software": software_versions(), **dict(attrs)}
        for key, value in merged.items():
            if value is None:
                continue
            if isinstance(value, dict | list | tuple):
                f.attrs[key] = json.dumps(value, default=_jsonable, sort_keys=True)
            else:
                f.attrs[key] = value
        f.attrs["num_beads"] = num_beads
        f.attrs["num_atoms"] = num_atoms
        f.create_dataset("mapping", data=json.dumps(mdict, default=_jsonable),
                         dtype=h5py.string_dtype())
        f.create_dataset("atom_topology_pdb", data=atom_topology_pdb,
                         dtype=h5py.string_dtype())
        opts: dict[str, Any] = {}
        if compression:
            opts = {"compression": compression, "shuffle": True}
        f.create_dataset("bead_positions", shape=(0, num_beads, 3),
                         maxshape=(None, num_beads, 3), dtype="f4",
                         chunks=(_CHUNK_FRAMES, num_beads, 3), **opts)
        f.create_dataset("time", shape=(0,), maxshape=(None,), dtype="f8",
                         chunks=(1024,))
        if save_atoms:
            f.create_dataset("atom_positions", shape=(0, num_atoms, 3),
                             maxshape=(None, num_atoms, 3), dtype="f4",
                             chunks=(min(_CHUNK_FRAMES, max(1, 2**20 // (12 * num_atoms))),
                                     num_atoms, 3), **opts)
    return Path(path)


def _check_format(f: h5py.File, path: str | os.PathLike) -> None:
    if f.attrs.get("format") != FORMAT:
        raise ValueError(
            f"{path}: not an openmm-cgml trajectory (attribute 'format' is "
            f"{f.attrs.get('format')!r}, expected {FORMAT!r})"
        )
    version = int(f.attrs.get("version", -1))
    if version > VERSION:
        raise ValueError(f"{path}: trajectory format version {version} is newer than this "
                         f"openmm-cgml understands ({VERSION}); upgrade openmm-cgml")


def append_frames(
    path: str | os.PathLike,
    bead_positions: np.ndarray,
    time_ps: np.ndarray,
    atom_positions: np.ndarray | None = None,
) -> int:
    """Append a block of frames; return the new number of frames.

    Args:
        bead_positions: [n, num_beads, 3] nm.
        time_ps: [n] ps, strictly increasing and after the last stored time.
        atom_positions: [n, n_atoms, 3] nm; required if the file stores atom positions,
            ignored otherwise.
    """
    bead = np.asarray(bead_positions, dtype=np.float32)
    t = np.asarray(time_ps, dtype=np.float64).reshape(-1)
    if bead.ndim != 3 or bead.shape[0] != t.shape[0]:
        raise ValueError(f"bead_positions {bead.shape} and time {t.shape} do not match")
    with deferred_signals(), h5py.File(path, "r+") as f:
        _check_format(f, path)
        n = f["time"].shape[0]
        if bead.shape[1:] != f["bead_positions"].shape[1:]:
            raise ValueError(f"{path}: frames have {bead.shape[1]} beads, file has "
                             f"{f['bead_positions'].shape[1]}")
        if n and len(t) and t[0] <= f["time"][n - 1]:
            raise ValueError(f"{path}: appended time {t[0]} ps is not after the last stored "
                             f"frame ({f['time'][n - 1]} ps)")
        if "atom_positions" in f:
            if atom_positions is None:
                raise ValueError(f"{path}: file stores atom positions; pass atom_positions")
            atoms = np.asarray(atom_positions, dtype=np.float32)
            if atoms.shape != (len(t), *f["atom_positions"].shape[1:]):
                raise ValueError(f"{path}: atom_positions {atoms.shape} do not match the file")
            f["atom_positions"].resize(n + len(t), axis=0)
            f["atom_positions"][n:] = atoms
        f["bead_positions"].resize(n + len(t), axis=0)
        f["bead_positions"][n:] = bead
        f["time"].resize(n + len(t), axis=0)  # /time last: it defines the frame count
        f["time"][n:] = t
        return n + len(t)


def count_frames(path: str | os.PathLike) -> int:
    """Number of complete frames in a file (the length of ``/time``)."""
    with h5py.File(path, "r") as f:
        _check_format(f, path)
        return int(f["time"].shape[0])


def truncate_frames(path: str | os.PathLike, n_frames: int) -> None:
    """Cut every frame dataset to its first ``n_frames`` frames (used when resuming)."""
    with deferred_signals(), h5py.File(path, "r+") as f:
        _check_format(f, path)
        n = f["time"].shape[0]
        if n_frames > n:
            raise ValueError(f"{path}: has {n} frames, cannot truncate to {n_frames}")
        for name in ("time", "bead_positions", "atom_positions"):
            if name in f:
                f[name].resize(n_frames, axis=0)


def set_attrs(path: str | os.PathLike, **attrs: Any) -> None:
    """Update root attributes of an existing file (dicts stored as JSON)."""
    with deferred_signals(), h5py.File(path, "r+") as f:
        _check_format(f, path)
        for key, value in attrs.items():
            if isinstance(value, dict | list | tuple):
                value = json.dumps(value, default=_jsonable, sort_keys=True)
            f.attrs[key] = value


class TrajectoryFile:
    """Read an openmm-cgml trajectory file.

    Use as a context manager or call :meth:`close`. Frames are read lazily::

        with TrajectoryFile("data/GYDPETGTWG.h5") as traj:
            x = traj.bead_positions[100:130]     # float32 [30, num_beads, 3] nm
            dt = traj.attrs["stride_ps"]

    Attributes:
        path: the file.
        attrs: root attributes; JSON ones (``units``, ``software``, ``composition``,
            ``simulation``) decoded to dicts.
        bead_positions: h5py dataset [T, num_beads, 3] nm (slice it to read).
        atom_positions: h5py dataset [T, n_atoms, 3] nm, or None if not stored.
        time: numpy float64 [T] ps.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"trajectory file not found: {self.path}")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise ValueError(f"{self.path}: cannot be read as HDF5 ({exc})") from exc
        try:
            _check_format(self._file, self.path)
            self._read_header()
        except (ValueError, KeyError) as exc:
            self._file.close()
            if isinstance(exc, KeyError):
                raise ValueError(f"{self.path}: incomplete trajectory file ({exc})") from exc
            raise

    def _read_header(self) -> None:
        self.attrs: dict[str, Any] = {}
        for key, value in self._file.attrs.items():
            if isinstance(value, bytes):
                value = value.decode()
            if isinstance(value, str) and (key in JSON_ATTRS or value[:1] in ("{", "[")):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    if key in JSON_ATTRS:
                        raise ValueError(f"{self.path}: attribute {key!r} is not valid "
                                         "JSON") from None
            elif isinstance(value, np.generic):
                value = value.item()
            self.attrs[key] = value
        n = int(self._file["time"].shape[0])
        self._n = n
        self.time: np.ndarray = self._file["time"][:n]
        self.bead_positions: h5py.Dataset = self._file["bead_positions"]
        self.atom_positions: h5py.Dataset | None = self._file.get("atom_positions")
        self._mapping: Any = None

    def __len__(self) -> int:
        return self._n

    def __enter__(self) -> TrajectoryFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def num_beads(self) -> int:
        return int(self.bead_positions.shape[1])

    @property
    def mapping_dict(self) -> dict[str, Any]:
        """The stored BeadMapping as a plain dict (no import of the mapping layer)."""
        raw = self._file["mapping"][()]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)

    @property
    def mapping(self) -> Any:
        """The stored :class:`openmm_cgml.mapping.BeadMapping` (loaded on first use)."""
        if self._mapping is None:
            from openmm_cgml.mapping import BeadMapping

            self._mapping = BeadMapping.from_dict(self.mapping_dict)
        return self._mapping

    @property
    def atom_topology_pdb(self) -> str:
        raw = self._file["atom_topology_pdb"][()]
        return raw.decode() if isinstance(raw, bytes) else raw

    def atom_topology(self) -> Any:
        """The fine topology as an ``openmm.app.PDBFile`` (``.topology``, ``.positions``)."""
        import io

        from openmm.app import PDBFile

        return PDBFile(io.StringIO(self.atom_topology_pdb))

    def to_mdtraj(self, atoms: bool = True) -> Any:
        """An ``mdtraj.Trajectory`` of the stored all-atom frames (``atoms=True``, needs
        ``/atom_positions``) or of the beads (``atoms=False``, one CA-like atom per bead,
        topology from the mapping)."""
        import mdtraj

        if atoms:
            if self.atom_positions is None:
                raise ValueError(f"{self.path}: no atom positions stored "
                                 "(generate with --save-atoms), use atoms=False for beads")
            top = mdtraj.Topology.from_openmm(self.atom_topology().topology)
            xyz = self.atom_positions[: self._n]
        else:
            top = mdtraj.Topology.from_openmm(self.mapping.topology)
            xyz = self.bead_positions[: self._n]
        return mdtraj.Trajectory(np.asarray(xyz), top, time=self.time)
