"""Static molecule graphs and the batched graph handed to the models.

A :class:`MoleculeGraph` holds everything about one molecule that does not change in
time: bead masses, CG bonds and the fine (atom-level) bonded graph with its features.
:func:`collate_windows` concatenates windows of several molecules (of any sizes) into a
single :class:`GraphBatch`, shifting all indices to global numbering as in PyTorch
Geometric.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

#: keys of ``BeadMapping.to_dict()`` (CONTRACTS.md section 2) this layer needs
_MAPPING_KEYS = ("atom_to_bead", "num_beads", "bead_masses", "cg_bonds", "atom_bonds",
                 "atom_features", "bond_types")
_FEATURE_KEYS = ("element", "residue", "role", "mass")


def _complete_mapping_dict(data: dict) -> dict:
    """Add the derived fields ``bead_masses`` and ``cg_bonds`` to a ``BeadMapping.to_dict()``.

    Same definitions as ``BeadMapping`` (CONTRACTS.md section 2): bead mass = sum of its
    atom masses; CG bond = bead pair joined by at least one atom bond (i < j, unique).
    Reading the dict directly avoids rebuilding OpenMM topologies for every file.
    """
    if "bead_masses" in data and "cg_bonds" in data:
        return data
    if not all(k in data for k in ("atom_to_bead", "atom_masses", "atom_bonds", "num_beads")):
        return data
    out = dict(data)
    a2b = np.asarray(data["atom_to_bead"], dtype=np.int64)
    n = int(data["num_beads"])
    if a2b.size and (a2b.min() < 0 or a2b.max() >= n):
        return data  # let validation report it
    out.setdefault("bead_masses", np.bincount(a2b, weights=np.asarray(data["atom_masses"],
                                                                     dtype=np.float64),
                                              minlength=n))
    if "cg_bonds" not in out:
        ab = np.asarray(data["atom_bonds"], dtype=np.int64).reshape(-1, 2)
        if ab.size and (ab.min() < 0 or ab.max() >= a2b.size):
            return data
        bi, bj = a2b[ab[:, 0]], a2b[ab[:, 1]]
        keep = bi != bj
        pairs = np.stack([np.minimum(bi, bj), np.maximum(bi, bj)], axis=1)[keep]
        out["cg_bonds"] = (np.unique(pairs, axis=0) if len(pairs)
                           else np.zeros((0, 2), dtype=np.int64))
    return out


@dataclass(frozen=True)
class MoleculeGraph:
    """Time-independent graph data of one molecule (numpy arrays).

    Attributes:
        num_beads: N.
        bead_masses: float64 [N] amu.
        cg_bonds: int64 [E, 2] bead index pairs (i < j).
        atom_element: int64 [A] atomic number (0 = none/unknown).
        atom_residue: int64 [A] index into ``mapping.features.RESIDUE_VOCAB``.
        atom_role: int64 [A] index into ``mapping.features.ROLE_VOCAB``.
        atom_mass: float64 [A] amu.
        atom_bonds: int64 [B, 2] atom index pairs.
        bond_types: int64 [B] (0 single/unknown, 1 double, 2 triple, 3 aromatic,
            4 polymer backbone, 5 polymer side).
        atom_to_bead: int64 [A] bead index of each atom.
    """

    num_beads: int
    bead_masses: np.ndarray
    cg_bonds: np.ndarray
    atom_element: np.ndarray
    atom_residue: np.ndarray
    atom_role: np.ndarray
    atom_mass: np.ndarray
    atom_bonds: np.ndarray
    bond_types: np.ndarray
    atom_to_bead: np.ndarray

    @property
    def num_atoms(self) -> int:
        return int(self.atom_to_bead.shape[0])

    def validate(self, source: str = "mapping") -> None:
        """Raise ``ValueError`` naming ``source`` if the arrays are inconsistent."""
        n, a = self.num_beads, self.num_atoms
        checks = [
            (self.bead_masses.shape == (n,), f"bead_masses has shape {self.bead_masses.shape}, "
             f"expected ({n},)"),
            (self.cg_bonds.ndim == 2 and self.cg_bonds.shape[1] == 2, "cg_bonds must be [E, 2]"),
            (self.atom_bonds.ndim == 2 and self.atom_bonds.shape[1] == 2,
             "atom_bonds must be [B, 2]"),
            (self.bond_types.shape == (self.atom_bonds.shape[0],),
             "bond_types must have one entry per atom bond"),
            (all(x.shape == (a,) for x in (self.atom_element, self.atom_residue, self.atom_role,
                                           self.atom_mass)),
             f"atom_features must all have length num_atoms={a}"),
            (a == 0 or (self.atom_to_bead.min() >= 0 and self.atom_to_bead.max() < n),
             "atom_to_bead has indices outside [0, num_beads)"),
            (self.cg_bonds.size == 0 or (self.cg_bonds.min() >= 0 and self.cg_bonds.max() < n),
             "cg_bonds has indices outside [0, num_beads)"),
            (self.atom_bonds.size == 0 or (self.atom_bonds.min() >= 0
                                           and self.atom_bonds.max() < a),
             "atom_bonds has indices outside [0, num_atoms)"),
            (n == 0 or np.all(self.bead_masses > 0), "bead_masses must be positive"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"{source}: {msg}")
        if a and np.unique(self.atom_to_bead).size != n:
            raise ValueError(f"{source}: some beads have no atoms (atom_to_bead does not cover "
                             f"all {n} beads)")

    @classmethod
    def from_mapping(cls, mapping: Any, source: str = "mapping") -> MoleculeGraph:
        """Build from a ``BeadMapping`` object, its ``to_dict()`` dict, or its JSON text."""
        if isinstance(mapping, (str, bytes)):
            try:
                mapping = json.loads(mapping)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{source}: mapping is not valid JSON ({exc})") from exc
        if isinstance(mapping, dict):
            mapping = _complete_mapping_dict(mapping)
            if all(k in mapping for k in _MAPPING_KEYS):
                get = mapping.__getitem__
            else:  # a layout we do not read directly: let BeadMapping parse it
                try:
                    from openmm_cgml.mapping import BeadMapping
                except ImportError as exc:
                    missing = [k for k in _MAPPING_KEYS if k not in mapping]
                    raise ValueError(f"{source}: mapping lacks keys {missing}") from exc
                try:
                    parsed = BeadMapping.from_dict(mapping)
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"{source}: cannot read the mapping ({exc})") from exc
                return cls.from_mapping(parsed, source)
        else:
            def get(key: str) -> Any:
                return getattr(mapping, key)
        feats = get("atom_features")
        missing = [k for k in _FEATURE_KEYS if k not in feats]
        if missing:
            raise ValueError(f"{source}: mapping atom_features lacks {missing}")
        graph = cls(
            num_beads=int(get("num_beads")),
            bead_masses=np.asarray(get("bead_masses"), dtype=np.float64),
            cg_bonds=np.asarray(get("cg_bonds"), dtype=np.int64).reshape(-1, 2),
            atom_element=np.asarray(feats["element"], dtype=np.int64),
            atom_residue=np.asarray(feats["residue"], dtype=np.int64),
            atom_role=np.asarray(feats["role"], dtype=np.int64),
            atom_mass=np.asarray(feats["mass"], dtype=np.float64),
            atom_bonds=np.asarray(get("atom_bonds"), dtype=np.int64).reshape(-1, 2),
            bond_types=np.asarray(get("bond_types"), dtype=np.int64).reshape(-1),
            atom_to_bead=np.asarray(get("atom_to_bead"), dtype=np.int64),
        )
        graph.validate(source)
        return graph


@dataclass
class GraphBatch:
    """Windows of several molecules concatenated into one graph (CONTRACTS.md section 4).

    N = total beads, A = total atoms, G = number of molecules (graphs), F = frames per
    window (k history frames + ``horizon`` future frames; F = k + 1 by default).

    Attributes:
        frames: float [F, N, 3] bead positions in nm, oldest first.
        batch: int64 [N] molecule index of each bead.
        num_graphs: G.
        bead_masses: float [N] amu.
        cg_bonds: int64 [2, E] global bead indices (each bond once, i < j).
        dt: time between consecutive frames in ps.
        atom_element, atom_residue, atom_role: int64 [A].
        atom_mass: float [A] amu.
        atom_bonds: int64 [2, B] global atom indices.
        bond_types: int64 [B].
        atom_to_bead: int64 [A] global bead index.
        box: float [3, 3] periodic box in nm (zeros = no periodic boundaries).
        sample_index: int64 [G] dataset index of each window (-1 if unknown).
    """

    frames: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    bead_masses: torch.Tensor
    cg_bonds: torch.Tensor
    dt: float
    atom_element: torch.Tensor
    atom_residue: torch.Tensor
    atom_role: torch.Tensor
    atom_mass: torch.Tensor
    atom_bonds: torch.Tensor
    bond_types: torch.Tensor
    atom_to_bead: torch.Tensor
    box: torch.Tensor
    sample_index: torch.Tensor

    @property
    def num_beads(self) -> int:
        return int(self.frames.shape[1])

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> GraphBatch:
        """Move every tensor to ``device``; floating tensors also to ``dtype`` if given."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                if dtype is not None and value.is_floating_point():
                    value = value.to(device=device, dtype=dtype)
                else:
                    value = value.to(device)
            out[f.name] = value
        return GraphBatch(**out)

    def pin_memory(self) -> GraphBatch:
        """Pinned copy (used by ``DataLoader(pin_memory=True)``)."""
        return GraphBatch(**{f.name: (v.pin_memory() if isinstance(v, torch.Tensor) else v)
                             for f in fields(self) for v in [getattr(self, f.name)]})


@dataclass
class WindowSample:
    """One window: F = k + horizon frames of one molecule.

    Attributes:
        frames: float32 [F, N, 3] nm.
        graph: the molecule's static graph.
        dt: ps between frames.
        index: dataset index (``-1`` if not from a dataset).
        file_index, start: source file and first frame of the window.
    """

    frames: np.ndarray
    graph: MoleculeGraph
    dt: float
    index: int = -1
    file_index: int = -1
    start: int = -1


def collate_windows(samples: list[WindowSample]) -> GraphBatch:
    """Concatenate windows of (possibly different) molecules into one :class:`GraphBatch`.

    All samples must have the same number of frames and the same ``dt``.
    """
    if not samples:
        raise ValueError("collate_windows: got an empty list of samples")
    n_frames = samples[0].frames.shape[0]
    dt = float(samples[0].dt)
    for s in samples:
        if s.frames.shape[0] != n_frames:
            raise ValueError("collate_windows: samples have different numbers of frames "
                             f"({s.frames.shape[0]} vs {n_frames})")
        if not np.isclose(s.dt, dt, rtol=1e-9, atol=0.0):
            raise ValueError(f"collate_windows: samples have different dt ({s.dt} vs {dt} ps)")
    bead_off = np.cumsum([0] + [s.graph.num_beads for s in samples])
    atom_off = np.cumsum([0] + [s.graph.num_atoms for s in samples])

    def cat(key: str) -> np.ndarray:
        return np.concatenate([getattr(s.graph, key) for s in samples])

    frames = np.concatenate([s.frames for s in samples], axis=1)
    batch = np.concatenate([np.full(s.graph.num_beads, g, dtype=np.int64)
                            for g, s in enumerate(samples)])
    cg_bonds = np.concatenate([s.graph.cg_bonds + bead_off[g] for g, s in enumerate(samples)])
    atom_bonds = np.concatenate([s.graph.atom_bonds + atom_off[g]
                                 for g, s in enumerate(samples)])
    atom_to_bead = np.concatenate([s.graph.atom_to_bead + bead_off[g]
                                   for g, s in enumerate(samples)])
    return GraphBatch(
        frames=torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)),
        batch=torch.from_numpy(batch),
        num_graphs=len(samples),
        bead_masses=torch.from_numpy(cat("bead_masses").astype(np.float32)),
        cg_bonds=torch.from_numpy(np.ascontiguousarray(cg_bonds.T)),
        dt=dt,
        atom_element=torch.from_numpy(cat("atom_element")),
        atom_residue=torch.from_numpy(cat("atom_residue")),
        atom_role=torch.from_numpy(cat("atom_role")),
        atom_mass=torch.from_numpy(cat("atom_mass").astype(np.float32)),
        atom_bonds=torch.from_numpy(np.ascontiguousarray(atom_bonds.T)),
        bond_types=torch.from_numpy(cat("bond_types")),
        atom_to_bead=torch.from_numpy(atom_to_bead),
        box=torch.zeros(3, 3),
        sample_index=torch.tensor([s.index for s in samples], dtype=torch.int64),
    )
