"""`coarse_grain`: any supported structure source -> :class:`BeadMapping`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import openmm.app as app
import openmm.unit as unit

from openmm_cgml.mapping import features, schemes
from openmm_cgml.mapping.bead_mapping import BeadMapping
from openmm_cgml.mapping.cleaning import prepare_structure

log = logging.getLogger(__name__)

_SCHEME_ALIASES = {
    "residue": "residue",
    "residues": "residue",
    "residue_sidechain": "residue_sidechain",
    "residue+sidechain": "residue_sidechain",
    "residue-sidechain": "residue_sidechain",
    "sidechain": "residue_sidechain",
    "graph": "graph",
    "metis": "graph",
    "custom": "custom",
}


def atom_graph(topology: app.Topology) -> tuple[np.ndarray, np.ndarray]:
    """Fine bonds int64[n_bonds, 2] (i < j, sorted, unique) and their types int64[n_bonds]."""
    rows: dict[tuple[int, int], int] = {}
    for bond in topology.bonds():
        a1, a2 = bond.atom1, bond.atom2
        i, j = sorted((a1.index, a2.index))
        if i == j:
            continue
        elementless = a1.element is None or a2.element is None
        rows[(i, j)] = features.bond_type_index(
            bond.type, bond.order, (a1.name, a2.name), elementless
        )
    if not rows:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys = sorted(rows)
    return np.array(keys, dtype=np.int64), np.array([rows[k] for k in keys], dtype=np.int64)


def atom_features(topology: app.Topology, masses: np.ndarray) -> dict[str, np.ndarray]:
    """Per-atom features of docs/CONTRACTS.md §2 (element, residue, role int64; mass float64)."""
    element = []
    residue = []
    role = []
    for atom in topology.atoms():
        z = atom.element.atomic_number if atom.element is not None else 0
        element.append(z)
        residue.append(features.residue_index(atom.residue.name))
        role.append(features.role_index(atom.residue.name, atom.name, z))
    return {
        "element": np.asarray(element, dtype=np.int64),
        "residue": np.asarray(residue, dtype=np.int64),
        "role": np.asarray(role, dtype=np.int64),
        "mass": np.asarray(masses, dtype=np.float64),
    }


def coarse_grain(
    source: Any,
    scheme: str = "residue",
    atoms_per_bead: float | None = None,
    *,
    keep: str | Iterable[str] | None = None,
    clean: bool | None = None,
    ph: float = 7.0,
    add_hydrogens: bool = True,
    add_missing_atoms: bool = True,
    replace: dict[str, str] | None = None,
    masses: Any = None,
    atom_to_bead: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
) -> BeadMapping:
    """Map an all-atom structure onto beads.

    Args:
        source: path to a .pdb or .cif (PDBx/mmCIF) file, an ``openmm.app.PDBFile``/``PDBxFile``,
            ``(openmm.app.Topology, positions)`` (positions ``[n, 3]`` or ``[F, n, 3]`` nm, numpy
            or Quantity), an ``mdtraj.Trajectory``, or any object with ``.topology`` and
            ``.positions`` (``Modeller``, ``PDBFixer``).
        scheme: ``"residue"`` (one bead per residue at its centre of mass),
            ``"residue_sidechain"`` (backbone + side-chain bead per residue), ``"graph"``
            (balanced connected clusters of ~``atoms_per_bead`` atoms of the bonded graph) or
            ``"custom"`` (``atom_to_bead`` given).
        atoms_per_bead: cluster size for ``graph`` (required there); for the residue schemes the
            cluster size used for ligands/other molecules (default 10).
        keep: optional categories kept besides proteins/nucleic acids/polymers: ``"ligands"``
            (default), ``"water"``, ``"ions"``; ``"all"`` or ``"none"``. Dropped molecules are
            reported.
        clean: PDBFixer cleaning (non-standard residues, missing heavy atoms, hydrogens at
            ``ph``); default: on when every atom has an element.
        replace: extra ``{non-standard residue name: standard residue name}``.
        masses: amu per *input* atom; required for particles without an element (polymer
            beads), overrides element masses otherwise.
        atom_to_bead: int[n_kept_atoms] for ``scheme="custom"`` (bead index per kept atom).
        seed: seed for METIS and for PDBFixer's placement of missing atoms.

    Returns:
        :class:`BeadMapping` with ``frames`` set to the cleaned positions (one per model) and
        ``report`` listing every cleaning action.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: empty file, not a structure, unknown residue that cannot be fixed, nothing
            left after removing solvent, bad scheme options.
    """
    key = _SCHEME_ALIASES.get(str(scheme).lower())
    if key is None:
        raise ValueError(
            f"unknown mapping scheme {scheme!r}; choose residue, residue_sidechain, graph or custom"
        )
    if key == "graph" and atoms_per_bead is None:
        raise ValueError("scheme='graph' needs atoms_per_bead (e.g. 4, 10)")
    if atoms_per_bead is not None and not atoms_per_bead > 0:
        raise ValueError(f"atoms_per_bead must be positive, got {atoms_per_bead!r}")
    if key == "custom" and atom_to_bead is None:
        raise ValueError("scheme='custom' needs atom_to_bead (one bead index per atom)")
    if key != "custom" and atom_to_bead is not None:
        raise ValueError("atom_to_bead is only used with scheme='custom'")

    if key == "custom" and clean is None:
        clean = False  # the user's indices refer to the atoms as given
    structure = prepare_structure(
        source, keep=keep, clean=clean, ph=ph, add_hydrogens=add_hydrogens,
        add_missing_atoms=add_missing_atoms, replace=replace, masses=masses, seed=seed,
    )
    top = structure.topology
    n = top.getNumAtoms()
    if structure.masses is not None:
        atom_masses = structure.masses
    else:
        mass_of: dict[Any, float] = {}
        for a in top.atoms():
            if a.element not in mass_of:
                mass_of[a.element] = a.element.mass.value_in_unit(unit.dalton)
        atom_masses = np.array([mass_of[a.element] for a in top.atoms()], dtype=np.float64)
    bonds, btypes = atom_graph(top)
    feats = atom_features(top, atom_masses)
    options: dict[str, Any] = {"seed": seed}
    if key in ("residue", "residue_sidechain"):
        apb = float(atoms_per_bead) if atoms_per_bead is not None else 10.0
        result = schemes.residue_scheme(
            top, bonds, feats["role"], sidechain=(key == "residue_sidechain"),
            other_atoms_per_bead=apb, seed=seed,
        )
        options["other_atoms_per_bead"] = apb
    elif key == "graph":
        result = schemes.graph_scheme(top, bonds, float(atoms_per_bead), seed=seed)
        options["atoms_per_bead"] = float(atoms_per_bead)
    else:
        arr = np.asarray(atom_to_bead)
        if arr.ndim == 1 and len(arr) == structure.source_num_atoms and len(arr) != n:
            # given per input atom: restrict to the kept ones
            if np.any(structure.source_atoms < 0):
                raise ValueError("custom scheme with cleaning that adds atoms: give atom_to_bead "
                                 "per kept atom or pass clean=False")
            arr = arr[structure.source_atoms]
            arr = schemes.relabel_by_first_atom(arr)
        result = schemes.custom_scheme(top, arr, bonds)
    report = list(structure.report)
    for note in result.notes:
        report.append(note)
        log.info(note)
    type_names: list[str] = []
    type_index: dict[str, int] = {}
    bead_types = np.empty(len(result.bead_type_names), dtype=np.int64)
    for b, name in enumerate(result.bead_type_names):
        if name not in type_index:
            type_index[name] = len(type_names)
            type_names.append(name)
        bead_types[b] = type_index[name]
    if n != len(result.atom_to_bead):  # pragma: no cover - internal consistency
        raise RuntimeError("scheme returned the wrong number of atoms")
    return BeadMapping(
        atom_to_bead=result.atom_to_bead,
        atom_masses=atom_masses,
        atom_topology=top,
        atom_bonds=bonds,
        bond_types=btypes,
        atom_features=feats,
        bead_atom_names=result.bead_atom_names,
        bead_types=bead_types,
        bead_type_names=type_names,
        frames=structure.frames,
        source_atoms=structure.source_atoms,
        source_num_atoms=structure.source_num_atoms,
        scheme=key,
        scheme_options=options,
        report=report,
    )
