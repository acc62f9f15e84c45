"""`BeadMapping`: which atoms make each bead, and everything the models need about both levels.

All arrays are numpy; units are nm and amu. See docs/CONTRACTS.md §2 for the contract that the
reference, dataset, model and export layers code against.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openmm.app as app
import openmm.unit as unit
import scipy.sparse as sp

from openmm_cgml.utils import atomic_write

FORMAT_NAME = "openmm-cgml-mapping"
#: element given to bead particles in :attr:`BeadMapping.topology` (for file readers only)
BEAD_PSEUDO_ELEMENT = app.element.carbon
FORMAT_VERSION = 1

_BOND_TYPE_BY_NAME = {
    "Single": app.Single, "Double": app.Double, "Triple": app.Triple,
    "Aromatic": app.Aromatic, "Amide": app.Amide,
}


def _as_nm_array(positions: Any) -> np.ndarray:
    """Positions (numpy array in nm, openmm Quantity, list of Vec3) -> float64 array in nm."""
    if unit.is_quantity(positions):
        positions = positions.value_in_unit(unit.nanometer)
    arr = np.asarray(positions, dtype=np.float64)
    return arr


# ---------------------------------------------------------------------------------------
# topology <-> plain data
def topology_to_dict(topology: app.Topology) -> dict[str, Any]:
    """A JSON-able description of an ``openmm.app.Topology`` (chains, residues, atoms, bonds, box).

    Atoms are listed as ``[name, element symbol or None]`` in topology order.
    """
    chains = []
    for chain in topology.chains():
        residues = []
        for res in chain.residues():
            residues.append(
                {
                    "name": res.name,
                    "id": res.id,
                    "insertion_code": res.insertionCode,
                    "atoms": [
                        [a.name, a.element.symbol if a.element is not None else None]
                        for a in res.atoms()
                    ],
                }
            )
        chains.append({"id": chain.id, "residues": residues})
    bonds = []
    for bond in topology.bonds():
        bonds.append(
            [
                bond.atom1.index,
                bond.atom2.index,
                None if bond.type is None else str(bond.type),
                bond.order,
            ]
        )
    box = topology.getPeriodicBoxVectors()
    box_list = None
    if box is not None:
        box_list = [[float(x) for x in v.value_in_unit(unit.nanometer)] for v in box]
    return {"chains": chains, "bonds": bonds, "box_nm": box_list}


def topology_from_dict(data: dict[str, Any]) -> app.Topology:
    """Inverse of :func:`topology_to_dict`."""
    top = app.Topology()
    atoms: list[app.topology.Atom] = []
    for chain_data in data["chains"]:
        chain = top.addChain(chain_data["id"])
        for res_data in chain_data["residues"]:
            res = top.addResidue(
                res_data["name"], chain, res_data["id"], res_data.get("insertion_code", " ")
            )
            for name, symbol in res_data["atoms"]:
                element = app.Element.getBySymbol(symbol) if symbol else None
                atoms.append(top.addAtom(name, element, res))
    for i, j, btype, order in data["bonds"]:
        top.addBond(atoms[i], atoms[j], _BOND_TYPE_BY_NAME.get(btype) if btype else None, order)
    if data.get("box_nm") is not None:
        top.setPeriodicBoxVectors([app.topology.Vec3(*v) for v in data["box_nm"]] * unit.nanometer)
    return top


def build_bead_topology(
    atom_topology: app.Topology,
    atom_to_bead: np.ndarray,
    bead_atom_names: Sequence[str],
    cg_bonds: np.ndarray,
) -> app.Topology:
    """One particle per bead, inside the chain and residue of the bead's first atom.

    Bead ``b`` is atom ``b`` of the returned topology. Its element is carbon as a *pseudo
    element*: PDB/DCD files written by any OpenMM reporter then read back alike in mdtraj,
    VMD and PyMOL (with no element, OpenMM writes ``EP`` and readers guess from the name,
    e.g. calcium for a one-bead residue named CA). Bead masses are
    :attr:`BeadMapping.bead_masses`, never the element's. A new residue starts
    whenever the owning residue of consecutive beads changes, so chains and residues (names,
    ids) are kept and a PDB/DCD written from a CG run opens in mdtraj, VMD and PyMOL.
    """
    atoms = list(atom_topology.atoms())
    num_beads = len(bead_atom_names)
    first_atom = np.full(num_beads, -1, dtype=np.int64)
    # first (lowest index) atom of each bead
    order = np.argsort(atom_to_bead, kind="stable")
    sorted_beads = atom_to_bead[order]
    starts = np.searchsorted(sorted_beads, np.arange(num_beads))
    first_atom[:] = order[starts]
    top = app.Topology()
    beads: list[app.topology.Atom] = []
    cur_chain_key = None
    cur_res_key = None
    chain = None
    residue = None
    for b in range(num_beads):
        atom = atoms[int(first_atom[b])]
        res = atom.residue
        if res.chain.index != cur_chain_key:
            chain = top.addChain(res.chain.id)
            cur_chain_key = res.chain.index
            cur_res_key = None
        if res.index != cur_res_key:
            residue = top.addResidue(res.name, chain, res.id, res.insertionCode)
            cur_res_key = res.index
        beads.append(top.addAtom(bead_atom_names[b], BEAD_PSEUDO_ELEMENT, residue))
    for i, j in cg_bonds:
        top.addBond(beads[int(i)], beads[int(j)])
    box = atom_topology.getPeriodicBoxVectors()
    if box is not None:
        top.setPeriodicBoxVectors(box)
    return top


def _cg_bonds(atom_bonds: np.ndarray, atom_to_bead: np.ndarray) -> np.ndarray:
    if len(atom_bonds) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    bi = atom_to_bead[atom_bonds[:, 0]]
    bj = atom_to_bead[atom_bonds[:, 1]]
    keep = bi != bj
    pairs = np.stack([np.minimum(bi, bj), np.maximum(bi, bj)], axis=1)[keep]
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(pairs, axis=0).astype(np.int64)


@dataclass(eq=False)
class BeadMapping:
    """A coarse-graining of one all-atom system into beads (mass-weighted atom clusters).

    Core fields (numpy; ``n`` = ``num_atoms``, ``B`` = ``num_beads``):

    - ``atom_to_bead``: int64[n], bead index of every atom; beads are numbered 0..B-1.
    - ``atom_masses``: float64[n], amu.
    - ``atom_topology``: the (cleaned) all-atom ``openmm.app.Topology``.
    - ``atom_bonds``: int64[n_bonds, 2] (i < j), ``bond_types``: int64[n_bonds]
      (index into :data:`features.BOND_TYPES`).
    - ``atom_features``: ``{"element", "residue", "role"}`` int64[n] and ``"mass"`` float64[n].
    - ``bead_atom_names``: list[str], particle name of each bead in :attr:`topology`.
    - ``bead_types``: int64[B] indices into ``bead_type_names``.
    - ``frames``: float64[F, n, 3] nm, the positions of the cleaned structure (one per model of a
      multi-model file), or None.
    - ``source_atoms``: int64[n], index of every atom in the input the mapping was made from
      (-1 for atoms added by cleaning); ``source_num_atoms``: atoms in that input.
    - ``scheme``/``scheme_options``: how the beads were made; ``report``: every cleaning action.

    Derived (computed on construction): ``num_atoms``, ``num_beads``, ``bead_masses``
    (float64[B], amu), ``cg_bonds`` (int64[E, 2], i < j, sorted, unique: bead pairs joined by a
    fine bond) and ``topology`` (``openmm.app.Topology`` with one particle per bead).
    """

    atom_to_bead: np.ndarray
    atom_masses: np.ndarray
    atom_topology: app.Topology
    atom_bonds: np.ndarray
    bond_types: np.ndarray
    atom_features: dict[str, np.ndarray]
    bead_atom_names: list[str]
    bead_types: np.ndarray
    bead_type_names: list[str]
    frames: np.ndarray | None = None
    source_atoms: np.ndarray | None = None
    source_num_atoms: int | None = None
    scheme: str = "custom"
    scheme_options: dict[str, Any] = field(default_factory=dict)
    report: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.atom_to_bead = np.asarray(self.atom_to_bead, dtype=np.int64).reshape(-1)
        self.atom_masses = np.asarray(self.atom_masses, dtype=np.float64).reshape(-1)
        n = self.atom_to_bead.shape[0]
        if n == 0:
            raise ValueError("BeadMapping: no atoms to map")
        if self.atom_topology.getNumAtoms() != n:
            raise ValueError(
                f"BeadMapping: atom_topology has {self.atom_topology.getNumAtoms()} atoms but "
                f"atom_to_bead has {n} entries"
            )
        if self.atom_masses.shape != (n,):
            raise ValueError(f"BeadMapping: atom_masses must have shape ({n},)")
        if not np.all(np.isfinite(self.atom_masses)) or np.any(self.atom_masses <= 0):
            bad = int(np.flatnonzero(~(self.atom_masses > 0))[0])
            raise ValueError(
                f"BeadMapping: atom {bad} has mass {self.atom_masses[bad]} amu; every mapped atom "
                "needs a positive mass (pass masses= for particles without an element)"
            )
        num_beads = int(self.atom_to_bead.max()) + 1
        if self.atom_to_bead.min() < 0:
            raise ValueError("BeadMapping: atom_to_bead has negative entries")
        counts = np.bincount(self.atom_to_bead, minlength=num_beads)
        if np.any(counts == 0):
            empty = np.flatnonzero(counts == 0)[:5].tolist()
            raise ValueError(f"BeadMapping: beads {empty} have no atoms (bead ids must be 0..B-1)")
        self.atom_bonds = np.asarray(self.atom_bonds, dtype=np.int64).reshape(-1, 2)
        self.bond_types = np.asarray(self.bond_types, dtype=np.int64).reshape(-1)
        if self.bond_types.shape[0] != self.atom_bonds.shape[0]:
            raise ValueError("BeadMapping: bond_types and atom_bonds lengths differ")
        if len(self.bead_atom_names) != num_beads:
            raise ValueError("BeadMapping: bead_atom_names must have one name per bead")
        self.bead_types = np.asarray(self.bead_types, dtype=np.int64).reshape(-1)
        if self.bead_types.shape != (num_beads,):
            raise ValueError("BeadMapping: bead_types must have one entry per bead")
        self.atom_features = {
            "element": np.asarray(self.atom_features["element"], dtype=np.int64),
            "residue": np.asarray(self.atom_features["residue"], dtype=np.int64),
            "role": np.asarray(self.atom_features["role"], dtype=np.int64),
            "mass": np.asarray(self.atom_features.get("mass", self.atom_masses), dtype=np.float64),
        }
        if self.frames is not None:
            self.frames = _as_nm_array(self.frames).reshape(-1, n, 3)
        if self.source_atoms is None:
            self.source_atoms = np.arange(n, dtype=np.int64)
        self.source_atoms = np.asarray(self.source_atoms, dtype=np.int64)
        if self.source_num_atoms is None:
            self.source_num_atoms = n
        self.num_atoms: int = n
        self.num_beads: int = num_beads
        self.bead_masses: np.ndarray = np.bincount(
            self.atom_to_bead, weights=self.atom_masses, minlength=num_beads
        )
        self.bead_num_atoms: np.ndarray = counts.astype(np.int64)
        self.cg_bonds: np.ndarray = _cg_bonds(self.atom_bonds, self.atom_to_bead)
        self.topology: app.Topology = build_bead_topology(
            self.atom_topology, self.atom_to_bead, self.bead_atom_names, self.cg_bonds
        )
        w = self.atom_masses / self.bead_masses[self.atom_to_bead]
        #: sparse [B, n] matrix of mass fractions; bead positions = weights @ atom positions
        self.weights: sp.csr_matrix = sp.csr_matrix(
            (w, (self.atom_to_bead, np.arange(n))), shape=(num_beads, n)
        )

    # -----------------------------------------------------------------------------------
    @property
    def positions(self) -> np.ndarray | None:
        """First frame of the cleaned all-atom structure, float64[n, 3] nm (None if unknown)."""
        return None if self.frames is None else self.frames[0]

    def bead_positions(self, positions: Any = None) -> np.ndarray:
        """Mass-weighted bead centres.

        Args:
            positions: ``[..., num_atoms, 3]`` in nm (numpy array, openmm Quantity or list of
                Vec3). Defaults to :attr:`frames` (all frames).

        Returns:
            float64 ``[..., num_beads, 3]`` nm.
        """
        if positions is None:
            if self.frames is None:
                raise ValueError("bead_positions: this mapping stores no positions; pass some")
            positions = self.frames
        x = _as_nm_array(positions)
        if x.ndim < 2 or x.shape[-2:] != (self.num_atoms, 3):
            raise ValueError(
                f"bead_positions: expected positions of shape [..., {self.num_atoms}, 3], "
                f"got {x.shape}"
            )
        lead = x.shape[:-2]
        flat = x.reshape(-1, self.num_atoms, 3)
        # [n, T*3] -> [B, T*3]
        cols = np.ascontiguousarray(flat.transpose(1, 0, 2)).reshape(self.num_atoms, -1)
        out = np.asarray(self.weights @ cols).reshape(self.num_beads, -1, 3).transpose(1, 0, 2)
        return np.ascontiguousarray(out).reshape(*lead, self.num_beads, 3)

    def bead_members(self, bead: int) -> np.ndarray:
        """Atom indices of one bead (int64, ascending)."""
        return np.flatnonzero(self.atom_to_bead == bead)

    def summary(self) -> dict[str, Any]:
        """Counts and sizes for a human-readable summary."""
        return {
            "scheme": self.scheme,
            "scheme_options": self.scheme_options,
            "num_atoms": self.num_atoms,
            "num_beads": self.num_beads,
            "num_cg_bonds": int(len(self.cg_bonds)),
            "num_chains": self.topology.getNumChains(),
            "num_residues": self.atom_topology.getNumResidues(),
            "atoms_per_bead": {
                "mean": float(self.bead_num_atoms.mean()),
                "min": int(self.bead_num_atoms.min()),
                "max": int(self.bead_num_atoms.max()),
            },
            "total_mass_amu": float(self.atom_masses.sum()),
            "num_frames": 0 if self.frames is None else int(self.frames.shape[0]),
            "bead_types": {
                name: int(np.sum(self.bead_types == i))
                for i, name in enumerate(self.bead_type_names)
            },
            "report": list(self.report),
        }

    # -----------------------------------------------------------------------------------
    def to_dict(self, include_frames: bool = True) -> dict[str, Any]:
        """JSON-able dict (``"format": "openmm-cgml-mapping", "version": 1``)."""
        data: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "scheme": self.scheme,
            "scheme_options": self.scheme_options,
            "num_atoms": self.num_atoms,
            "num_beads": self.num_beads,
            "atom_to_bead": self.atom_to_bead.tolist(),
            "atom_masses": self.atom_masses.tolist(),
            # derived, stored for readers that do not rebuild a BeadMapping
            "bead_masses": self.bead_masses.tolist(),
            "cg_bonds": self.cg_bonds.tolist(),
            "atom_bonds": self.atom_bonds.tolist(),
            "bond_types": self.bond_types.tolist(),
            "atom_features": {
                k: v.tolist() for k, v in self.atom_features.items()
            },
            "bead_atom_names": list(self.bead_atom_names),
            "bead_types": self.bead_types.tolist(),
            "bead_type_names": list(self.bead_type_names),
            "source_atoms": self.source_atoms.tolist(),
            "source_num_atoms": int(self.source_num_atoms),
            "atom_topology": topology_to_dict(self.atom_topology),
            "report": list(self.report),
        }
        if include_frames and self.frames is not None:
            data["frames_nm"] = np.round(self.frames, 6).tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BeadMapping:
        """Inverse of :meth:`to_dict`; checks the format name and version."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ValueError(
                f"not an openmm-cgml mapping (expected \"format\": \"{FORMAT_NAME}\")"
            )
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"mapping format version {version} is not supported (this openmm-cgml reads "
                f"version {FORMAT_VERSION})"
            )
        frames = data.get("frames_nm")
        mapping = cls(
            atom_to_bead=np.asarray(data["atom_to_bead"], dtype=np.int64),
            atom_masses=np.asarray(data["atom_masses"], dtype=np.float64),
            atom_topology=topology_from_dict(data["atom_topology"]),
            atom_bonds=np.asarray(data["atom_bonds"], dtype=np.int64).reshape(-1, 2),
            bond_types=np.asarray(data["bond_types"], dtype=np.int64),
            atom_features={k: np.asarray(v) for k, v in data["atom_features"].items()},
            bead_atom_names=list(data["bead_atom_names"]),
            bead_types=np.asarray(data["bead_types"], dtype=np.int64),
            bead_type_names=list(data["bead_type_names"]),
            frames=None if frames is None else np.asarray(frames, dtype=np.float64),
            source_atoms=np.asarray(data["source_atoms"], dtype=np.int64),
            source_num_atoms=int(data["source_num_atoms"]),
            scheme=data.get("scheme", "custom"),
            scheme_options=dict(data.get("scheme_options", {})),
            report=list(data.get("report", [])),
        )
        if mapping.num_beads != data.get("num_beads", mapping.num_beads):
            raise ValueError("mapping JSON is inconsistent: num_beads does not match atom_to_bead")
        if "cg_bonds" in data and not np.array_equal(
            np.asarray(data["cg_bonds"], dtype=np.int64).reshape(-1, 2), mapping.cg_bonds
        ):
            raise ValueError("mapping JSON is inconsistent: cg_bonds do not follow atom_bonds")
        if "bead_masses" in data and not np.allclose(data["bead_masses"], mapping.bead_masses):
            raise ValueError("mapping JSON is inconsistent: bead_masses do not sum atom_masses")
        return mapping

    def to_json(self, include_frames: bool = True) -> str:
        return json.dumps(self.to_dict(include_frames=include_frames), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> BeadMapping:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"mapping is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike, include_frames: bool = True) -> Path:
        """Write the mapping as JSON (atomically)."""
        return atomic_write(path, self.to_json(include_frames=include_frames))

    @classmethod
    def load(cls, path: str | os.PathLike) -> BeadMapping:
        """Read a mapping written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"mapping file {p} does not exist")
        try:
            return cls.from_json(p.read_text())
        except ValueError as exc:
            raise ValueError(f"{p}: {exc}") from None

    def __repr__(self) -> str:
        return (
            f"BeadMapping(scheme={self.scheme!r}, num_atoms={self.num_atoms}, "
            f"num_beads={self.num_beads}, num_cg_bonds={len(self.cg_bonds)})"
        )
