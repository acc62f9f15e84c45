"""Bead trajectories of one molecule in memory, and reading them from trajectory files.

A :class:`Trajectories` holds one or several independent runs of the *same* molecule
(same beads), e.g. one long reference MD run, or R CG rollouts with different seeds. Files
follow docs/CONTRACTS.md section 3 and are read through
``openmm_cgml.reference.storage.TrajectoryFile``; runs of one molecule are grouped by the
file's ``name`` attribute.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Trajectories", "bead_info_from_mapping_dict", "load_trajectories", "resolve_files"]


@dataclass
class Trajectories:
    """Independent runs of one molecule.

    Attributes:
        name: molecule name (e.g. the polymer composition id).
        runs: list of ``[T_i, N, 3]`` float arrays (nm), frames ``dt_ps`` apart.
        dt_ps: time between frames (ps).
        masses: ``[N]`` bead masses (amu).
        bonds: ``[B, 2]`` CG bonds (bead index pairs).
        bead_types: ``[N]`` int type per bead (or ``None``).
        bead_type_names: names of the types.
        kind: ``"polymer"``, ``"protein"`` or ``""``.
        attrs: metadata (file attributes of the first run, composition, ...).
        steps_per_frame: model/MD steps between two stored frames (CG rollouts), else 0.
        stability: per run, a dict from :class:`openmm_cgml.analysis.StabilityResult`
            measured on *every* step of a rollout (``None`` for reference data).
        native: ``[N, 3]`` native/reference structure (nm) for RMSD and contacts, or ``None``.
        files: the files the runs were read from (in order).
    """

    name: str
    runs: list[np.ndarray]
    dt_ps: float
    masses: np.ndarray
    bonds: np.ndarray
    bead_types: np.ndarray | None = None
    bead_type_names: list[str] = field(default_factory=list)
    kind: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    steps_per_frame: int = 0
    stability: list[dict[str, Any]] | None = None
    native: np.ndarray | None = None
    files: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError(f"{self.name}: no trajectories")
        # float32 runs stay float32 (long rollouts); analysis works in float64 per call
        self.runs = [
            np.asarray(r)
            if np.asarray(r).dtype in (np.float32, np.float64)
            else np.asarray(r, dtype=np.float64)
            for r in self.runs
        ]
        n = self.runs[0].shape[1] if self.runs[0].ndim == 3 else -1
        for i, r in enumerate(self.runs):
            if r.ndim != 3 or r.shape[1:] != (n, 3):
                raise ValueError(
                    f"{self.name}: run {i} has shape {r.shape}; every run must be [T, {n}, 3] nm"
                )
            if r.shape[0] < 1:
                raise ValueError(f"{self.name}: run {i} has no frames")
        self.masses = np.asarray(self.masses, dtype=np.float64).reshape(-1)
        if self.masses.shape != (n,):
            raise ValueError(f"{self.name}: masses must be [{n}] amu; got {self.masses.shape}")
        self.bonds = np.asarray(self.bonds, dtype=np.int64).reshape(-1, 2)
        if self.bead_types is not None:
            self.bead_types = np.asarray(self.bead_types, dtype=np.int64).reshape(-1)
        if not self.dt_ps > 0:
            raise ValueError(f"{self.name}: the frame spacing dt_ps must be positive")

    @property
    def num_beads(self) -> int:
        return int(self.runs[0].shape[1])

    @property
    def num_frames(self) -> int:
        return int(sum(len(r) for r in self.runs))

    def discard(self, frames: int) -> Trajectories:
        """A copy without the first ``frames`` frames of every run (equilibration)."""
        if frames <= 0:
            return self
        runs = [r[frames:] for r in self.runs if len(r) > frames]
        if not runs:
            raise ValueError(
                f"{self.name}: every run is shorter than the {frames} discarded frames"
            )
        out = Trajectories(**{**self.__dict__, "runs": runs})
        return out


def bead_info_from_mapping_dict(mapping: dict[str, Any]) -> dict[str, Any]:
    """Bead masses (amu), CG bonds, bead types and native frame from a mapping dict.

    Uses ``openmm_cgml.mapping.BeadMapping.from_dict`` when the dict is a complete mapping;
    otherwise derives the same quantities from the plain keys (``atom_to_bead``,
    ``atom_masses``, ``atom_bonds``, ``bead_types``) so that minimal files can be evaluated.
    """
    try:
        from openmm_cgml.mapping import BeadMapping

        m = BeadMapping.from_dict(mapping)
    except (ImportError, KeyError, ValueError, TypeError):
        m = None
    if m is not None:
        native = None
        if m.frames is not None:
            native = m.bead_positions(m.frames[0])
        return {
            "masses": np.asarray(m.bead_masses, dtype=np.float64),
            "bonds": np.asarray(m.cg_bonds, dtype=np.int64).reshape(-1, 2),
            "bead_types": np.asarray(m.bead_types, dtype=np.int64),
            "bead_type_names": list(m.bead_type_names),
            "native": native,
            "mapping": m,
        }
    try:
        a2b = np.asarray(mapping["atom_to_bead"], dtype=np.int64)
        n = int(mapping.get("num_beads", a2b.max() + 1))
        if "bead_masses" in mapping:
            masses = np.asarray(mapping["bead_masses"], dtype=np.float64)
        else:
            masses = np.bincount(a2b, weights=np.asarray(mapping["atom_masses"]), minlength=n)
        if "cg_bonds" in mapping:
            bonds = np.asarray(mapping["cg_bonds"], dtype=np.int64).reshape(-1, 2)
        else:
            ab = np.asarray(mapping.get("atom_bonds", []), dtype=np.int64).reshape(-1, 2)
            pairs = np.sort(a2b[ab], axis=1)
            pairs = pairs[pairs[:, 0] != pairs[:, 1]]
            bonds = np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), np.int64)
    except KeyError as exc:
        raise ValueError(f"the stored mapping lacks the field {exc}") from None
    types = mapping.get("bead_types")
    return {
        "masses": masses,
        "bonds": bonds,
        "bead_types": None if types is None else np.asarray(types, dtype=np.int64),
        "bead_type_names": list(mapping.get("bead_type_names", [])),
        "native": None,
        "mapping": None,
    }


def resolve_files(
    spec: str | os.PathLike | Iterable[str | os.PathLike], split: str | None = None
) -> list[Path]:
    """``.h5`` files from a file, directory, glob, ``splits.json`` (+ split) or a list of them."""
    from openmm_cgml.datasets.windows import resolve_files as _resolve

    files = _resolve(spec, split)
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(f"trajectory files not found: {', '.join(missing[:5])}")
    return [Path(f) for f in files]


def load_trajectories(
    files: Sequence[str | os.PathLike],
    frame_stride: int = 1,
    max_frames: int | None = None,
) -> dict[str, Trajectories]:
    """Read trajectory files and group the runs by molecule name (file attribute ``name``).

    Args:
        files: ``.h5`` trajectory files (docs/CONTRACTS.md section 3).
        frame_stride: keep every ``frame_stride``-th frame (the spacing becomes
            ``stride_ps * frame_stride``).
        max_frames: read at most this many frames per file (before striding).

    Files of one molecule must have the same number of beads and frame spacing; CG rollout
    files written by :mod:`openmm_cgml.evaluation.rollouts` also carry per-run stability.
    """
    import json

    from openmm_cgml.reference.storage import TrajectoryFile

    if frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1; got {frame_stride}")
    groups: dict[str, Trajectories] = {}
    for path in files:
        with TrajectoryFile(path) as tf:
            attrs = dict(tf.attrs)
            n = len(tf) if max_frames is None else min(len(tf), int(max_frames))
            if n == 0:
                raise ValueError(f"{path}: the trajectory has no frames")
            x = np.asarray(tf.bead_positions[:n:frame_stride], dtype=np.float64)
            info = bead_info_from_mapping_dict(tf.mapping_dict)
        no_model_frames = False
        if int(attrs.get("first_frame_is_reference", 0)):
            # a CG rollout: frame 0 is the last frame of its (reference) starting history
            if len(x) > 1:
                x = x[1:]
            else:
                no_model_frames = True
        name = str(attrs.get("name") or Path(path).stem)
        try:
            dt = float(attrs["stride_ps"]) * frame_stride
        except KeyError:
            raise ValueError(f"{path}: attribute 'stride_ps' (frame spacing, ps) missing") from None
        stability = attrs.get("stability")
        if isinstance(stability, str):
            stability = json.loads(stability)
        if name in groups:
            g = groups[name]
            if x.shape[1] != g.num_beads or not np.isclose(dt, g.dt_ps):
                raise ValueError(
                    f"{path}: molecule {name!r} has {x.shape[1]} beads at {dt} ps spacing, but "
                    f"earlier files of it have {g.num_beads} beads at {g.dt_ps} ps"
                )
            if no_model_frames and not g.attrs.get("no_model_frames"):
                pass  # keep the group's real runs; this run contributes only its stability
            elif g.attrs.get("no_model_frames") and not no_model_frames:
                g.runs = [x]  # first real run replaces the placeholder
                g.attrs.pop("no_model_frames")
            else:
                g.runs.append(x)
            g.files.append(Path(path))
            if g.stability is not None:
                g.stability.append(stability)
        else:
            groups[name] = Trajectories(
                name=name,
                runs=[x],
                dt_ps=dt,
                masses=info["masses"],
                bonds=info["bonds"],
                bead_types=info["bead_types"],
                bead_type_names=info["bead_type_names"],
                kind=str(attrs.get("kind", "")),
                attrs=attrs,
                steps_per_frame=int(attrs.get("steps_per_frame", 0)) * frame_stride,
                stability=None if stability is None else [stability],
                native=info["native"],
                files=[Path(path)],
            )
            if no_model_frames:
                groups[name].attrs["no_model_frames"] = True
            if groups[name].native is None and groups[name].kind == "protein":
                # no structure stored with the mapping: the first reference frame is the
                # reference structure for RMSD / native contacts
                groups[name].native = x[0].copy()
                groups[name].attrs["native_source"] = f"first frame of {Path(path).name}"
    return groups
