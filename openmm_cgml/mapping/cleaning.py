"""Read any supported structure source and clean it with PDBFixer; report every action.

Pipeline (:func:`prepare_structure`):

1. read the source (.pdb/.cif path, ``PDBFile``/``PDBxFile``, ``(topology, positions)``, an
   ``mdtraj.Trajectory`` or anything with ``.topology`` and ``.positions``); multi-model files
   give one frame per model; the first alternate location of every atom is kept;
2. select: biopolymers (protein, nucleic acids, polymer monomers) are always kept; ligands /
   other molecules are kept by default; waters and ions are removed by default;
3. clean (when every atom has an element): non-standard residues replaced by their standard
   parents, missing heavy atoms added (PDBFixer), hydrogens added at ``ph`` (Modeller, same
   protonation variants in every frame).

Every action is appended to a ``report`` list and logged; nothing is changed silently.
"""

from __future__ import annotations

import copy
import functools
import io
import logging
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openmm.app as app
import openmm.unit as unit
from scipy.spatial import cKDTree

from openmm_cgml.mapping import features

log = logging.getLogger(__name__)

STRUCTURE_SUFFIXES = {
    ".pdb": "pdb", ".ent": "pdb", ".cif": "pdbx", ".mmcif": "pdbx", ".pdbx": "pdbx",
}
KEEP_CATEGORIES = ("ligands", "water", "ions")


@dataclass
class Structure:
    """A cleaned all-atom structure.

    ``frames``: float64[F, n, 3] nm; ``source_atoms``: int64[n] index of each atom in the
    input (-1 = added by cleaning); ``masses``: float64[n] amu or None (from elements).
    """

    topology: app.Topology
    frames: np.ndarray
    source_atoms: np.ndarray
    source_num_atoms: int
    label: str
    report: list[str] = field(default_factory=list)
    masses: np.ndarray | None = None


def _note(report: list[str], msg: str, level: int = logging.INFO) -> None:
    report.append(msg)
    log.log(level, msg)


# ---------------------------------------------------------------------------------------
# reading
def _positions_array(positions: Any, n: int, label: str) -> np.ndarray:
    if unit.is_quantity(positions):
        positions = positions.value_in_unit(unit.nanometer)
    try:
        arr = np.asarray(positions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label}: positions could not be read as numbers ({exc})") from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (n, 3):
        raise ValueError(
            f"{label}: positions must have shape [{n}, 3] or [frames, {n}, 3] (nm) to match the "
            f"topology's {n} atoms, got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{label}: positions contain NaN or infinite values")
    return arr


def _count_altlocs(path: Path) -> int:
    n = 0
    with open(path, errors="replace") as fh:
        for line in fh:
            if line.startswith(("ATOM  ", "HETATM")) and len(line) > 16 and line[16] not in " ":
                n += 1
            elif line.startswith("ENDMDL"):
                break
    return n


def read_source(source: Any) -> tuple[app.Topology, np.ndarray, str, list[str]]:
    """Topology, frames float64[F, n, 3] nm, a label for messages, and read notes."""
    report: list[str] = []
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = str(path)
        if not path.exists():
            raise FileNotFoundError(f"structure file {path} does not exist")
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        if path.stat().st_size == 0:
            raise ValueError(f"{path} is empty: expected a PDB or PDBx/mmCIF structure")
        kind = STRUCTURE_SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise ValueError(
                f"{path}: unsupported file type {path.suffix!r}; give a .pdb or .cif (PDBx/mmCIF) "
                "file, an mdtraj.Trajectory or (topology, positions)"
            )
        try:
            reader = app.PDBFile(str(path)) if kind == "pdb" else app.PDBxFile(str(path))
        except Exception as exc:  # openmm raises many types for malformed text
            raise ValueError(
                f"{path} is not a readable {'PDB' if kind == 'pdb' else 'PDBx/mmCIF'} "
                f"structure ({type(exc).__name__}: {exc})"
            ) from None
        top = reader.topology
        if top.getNumAtoms() == 0:
            raise ValueError(f"{path} contains no atoms: not a structure file?")
        nframes = reader.getNumFrames()
        frames = np.stack(
            [np.asarray(reader.getPositions(asNumpy=True, frame=i).value_in_unit(unit.nanometer))
             for i in range(nframes)]
        ).astype(np.float64)
        if nframes > 1:
            _note(report, f"{path.name}: {nframes} models read as {nframes} frames")
        if kind == "pdb":
            nalt = _count_altlocs(path)
            if nalt:
                _note(report, f"{path.name}: {nalt} atom records with alternate locations; kept "
                      "the first location of each atom")
        return top, frames, label, report
    if isinstance(source, (app.PDBFile, app.PDBxFile)):
        top = source.topology
        label = type(source).__name__
        frames = np.stack(
            [np.asarray(source.getPositions(asNumpy=True, frame=i).value_in_unit(unit.nanometer))
             for i in range(source.getNumFrames())]
        ).astype(np.float64)
        return top, frames, label, report
    try:
        import mdtraj
    except ImportError:  # pragma: no cover
        mdtraj = None
    if mdtraj is not None and isinstance(source, mdtraj.Trajectory):
        top = source.topology.to_openmm(source)
        frames = np.asarray(source.xyz, dtype=np.float64)
        return top, frames, "mdtraj.Trajectory", report
    if isinstance(source, tuple) and len(source) == 2:
        top, pos = source
        if not isinstance(top, app.Topology):
            raise ValueError(
                f"(topology, positions): the first item must be an openmm.app.Topology, got "
                f"{type(top).__name__}"
            )
        return top, _positions_array(pos, top.getNumAtoms(), "(topology, positions)"), \
            "(topology, positions)", report
    if hasattr(source, "topology") and hasattr(source, "positions"):
        top = source.topology
        return top, _positions_array(source.positions, top.getNumAtoms(), type(source).__name__), \
            type(source).__name__, report
    raise ValueError(
        f"cannot coarse-grain a {type(source).__name__}: give a .pdb/.cif path, an "
        "openmm.app.PDBFile/PDBxFile, (openmm.app.Topology, positions) or an mdtraj.Trajectory"
    )


# ---------------------------------------------------------------------------------------
# selection
def residue_category(res: app.topology.Residue) -> str:
    """``biopolymer``, ``water``, ``ions`` or ``ligands`` for one residue."""
    name = res.name
    if (
        features.is_protein_residue(name)
        or features.is_nucleic_residue(name)
        or features.is_polymer_residue(name)
    ):
        return "biopolymer"
    if features.is_water(name):
        return "water"
    if features.is_ion(name, len(res._atoms)):
        return "ions"
    return "ligands"


def parse_keep(keep: str | Iterable[str] | None) -> set[str]:
    """``keep`` -> set of kept optional categories among ``ligands``, ``water``, ``ions``."""
    if keep is None:
        return {"ligands"}
    if isinstance(keep, str):
        if keep == "all":
            return set(KEEP_CATEGORIES)
        if keep in ("none", ""):
            return set()
        keep = [k.strip() for k in keep.split(",") if k.strip()]
    out = set()
    for k in keep:
        k2 = {"ligand": "ligands", "waters": "water", "ion": "ions", "solvent": "water"}.get(k, k)
        if k2 not in KEEP_CATEGORIES:
            raise ValueError(
                f"keep: unknown category {k!r}; choose among {', '.join(KEEP_CATEGORIES)} "
                "(or 'all'/'none'); proteins, nucleic acids and polymers are always kept"
            )
        out.add(k2)
    if "water" in out and "solvent" in list(keep):
        out.add("ions")
    return out


def _subset(topology: app.Topology, keep_atoms: np.ndarray) -> tuple[app.Topology, np.ndarray]:
    """Copy of ``topology`` with only ``keep_atoms`` (bool[n]); returns (topology, kept index)."""
    idx = np.flatnonzero(keep_atoms)
    if len(idx) == topology.getNumAtoms():
        return topology, idx
    new = app.Topology()
    new.setPeriodicBoxVectors(topology.getPeriodicBoxVectors())
    amap: dict[int, app.topology.Atom] = {}
    for chain in topology.chains():
        new_chain = None
        for res in chain.residues():
            new_res = None
            for atom in res.atoms():
                if not keep_atoms[atom.index]:
                    continue
                if new_chain is None:
                    new_chain = new.addChain(chain.id)
                if new_res is None:
                    new_res = new.addResidue(res.name, new_chain, res.id, res.insertionCode)
                amap[atom.index] = new.addAtom(atom.name, atom.element, new_res, atom.id,
                                               atom.formalCharge)
    for bond in topology.bonds():
        a, b = bond.atom1.index, bond.atom2.index
        if a in amap and b in amap:
            new.addBond(amap[a], amap[b], bond.type, bond.order)
    return new, idx


def select(
    topology: app.Topology, keep: set[str], label: str, report: list[str]
) -> tuple[app.Topology, np.ndarray]:
    """Drop waters/ions/ligands not in ``keep``; returns (topology, kept source indices)."""
    n = topology.getNumAtoms()
    mask = np.ones(n, dtype=bool)
    dropped: dict[str, dict[str, int]] = {}
    for res in topology.residues():
        cat = residue_category(res)
        if cat == "biopolymer" or cat in keep:
            continue
        for atom in res.atoms():
            mask[atom.index] = False
        dropped.setdefault(cat, {})
        dropped[cat][res.name] = dropped[cat].get(res.name, 0) + 1
    for cat, names in dropped.items():
        listing = ", ".join(f"{k} x{v}" for k, v in sorted(names.items()))
        how = {
            "water": "waters removed (keep='water' to keep them)",
            "ions": "ions removed (keep='ions' to keep them)",
            "ligands": "ligands/other molecules dropped (keep='ligands' to keep and map them)",
        }[cat]
        _note(report, f"{how}: {listing}", logging.WARNING if cat == "ligands" else logging.INFO)
    if not mask.any():
        raise ValueError(
            f"{label}: nothing left after removing solvent/ions/ligands "
            f"(removed {n} atoms); pass keep='all' to map them"
        )
    return _subset(topology, mask)


# ---------------------------------------------------------------------------------------
# cleaning with PDBFixer
@functools.lru_cache(maxsize=1)
def _fixer_prototype():
    """One PDBFixer per process: loading its ~30 residue templates costs ~0.1-1 s."""
    from pdbfixer import PDBFixer

    dummy = (
        "ATOM      1  CA  GLY A   1       0.000   0.000   0.000  1.00  0.00           C\nEND\n"
    )
    return PDBFixer(pdbfile=io.StringIO(dummy))


def _reference_platform():
    import openmm

    return openmm.Platform.getPlatformByName("Reference")


def _new_fixer(topology: app.Topology, positions: Any):
    """A PDBFixer holding ``topology``/``positions`` (shares the cached templates; no I/O)."""
    fixer = copy.copy(_fixer_prototype())
    fixer.topology = topology
    fixer.positions = positions
    fixer.sequences = []
    fixer.modifiedResidues = []
    fixer.missingResidues = {}
    fixer._ccdCache = {}
    # the Reference platform makes the minimisations of added atoms reproducible
    fixer.platform = _reference_platform()
    # never reach for the network: unknown residues simply have no external definition
    for res in topology.residues():
        if res.name not in fixer.templates:
            fixer._ccdCache[res.name.upper()] = None
    return fixer


def _quantity(frame: np.ndarray) -> unit.Quantity:
    return unit.Quantity([app.topology.Vec3(*map(float, p)) for p in frame], unit.nanometer)


def _residue_label(res: app.topology.Residue) -> str:
    chain = res.chain.id.strip() or str(res.chain.index + 1)
    return f"{res.name}{res.id}{res.insertionCode.strip()} (chain {chain})"


def _check_unknown_polymer_residues(
    topology: app.Topology, replace: dict[str, str], label: str
) -> None:
    """Refuse non-standard residues that sit inside a protein chain and have no replacement."""
    from pdbfixer.pdbfixer import substitutions

    for chain in topology.chains():
        residues = list(chain.residues())
        if not any(features.is_protein_residue(r.name) for r in residues):
            continue
        for res in residues:
            if residue_category(res) != "ligands":
                continue
            names = {a.name for a in res.atoms()}
            if {"N", "CA", "C"} <= names and res.name not in substitutions \
                    and res.name not in replace:
                raise ValueError(
                    f"{label}: residue {_residue_label(res)} is a non-standard amino acid "
                    f"with no known standard replacement; pass replace={{'{res.name}': 'ALA'}} "
                    "(any standard residue) or clean=False"
                )


def _clean_frame(
    topology: app.Topology,
    frame: np.ndarray,
    *,
    replace: dict[str, str],
    add_missing_atoms: bool,
    add_hydrogens: bool,
    ph: float,
    seed: int,
    variants: list | None,
    report: list[str] | None,
) -> tuple[app.Topology, np.ndarray, list | None]:
    """One frame through PDBFixer; returns (topology, positions nm [n,3], variants used).

    OpenMM's Modeller places new hydrogens with Python's global ``random``; it is seeded
    with ``seed`` here (and restored afterwards) so that the same input gives the same atoms.
    """
    state = random.getstate()
    random.seed(seed)
    try:
        return _clean_frame_seeded(
            topology, frame, replace=replace, add_missing_atoms=add_missing_atoms,
            add_hydrogens=add_hydrogens, ph=ph, seed=seed, variants=variants, report=report,
        )
    finally:
        random.setstate(state)


def _clean_frame_seeded(
    topology: app.Topology,
    frame: np.ndarray,
    *,
    replace: dict[str, str],
    add_missing_atoms: bool,
    add_hydrogens: bool,
    ph: float,
    seed: int,
    variants: list | None,
    report: list[str] | None,
) -> tuple[app.Topology, np.ndarray, list | None]:
    fixer = _new_fixer(topology, _quantity(frame))
    fixer.findNonstandardResidues()
    subs = {r: n for r, n in fixer.nonstandardResidues}
    for res in fixer.topology.residues():
        if res.name in replace and res not in subs:
            if fixer._getTemplate(replace[res.name]) is None:
                raise ValueError(f"replace: {replace[res.name]!r} is not a standard residue name")
            subs[res] = replace[res.name]
    fixer.nonstandardResidues = sorted(subs.items(), key=lambda kv: kv[0].index)
    if fixer.nonstandardResidues and report is not None:
        for res, new in fixer.nonstandardResidues:
            _note(report, f"replaced non-standard residue {_residue_label(res)} by {new}")
    fixer.replaceNonstandardResidues()
    if add_missing_atoms:
        fixer.missingResidues = {}
        fixer.findMissingAtoms()
        if report is not None:
            for res, atoms in fixer.missingAtoms.items():
                _note(report, f"added missing heavy atoms {', '.join(a.name for a in atoms)} "
                      f"to {_residue_label(res)}")
            for res, names in fixer.missingTerminals.items():
                _note(report, f"added terminal atoms {', '.join(names)} to {_residue_label(res)}")
        if fixer.missingAtoms or fixer.missingTerminals:
            # OpenMM reads an integrator seed of 0 as "pick one at random": never pass 0
            fixer.addMissingAtoms(seed=seed % (2**31 - 2) + 1)
    top, pos = fixer.topology, fixer.positions
    used = variants
    if add_hydrogens:
        n_before = top.getNumAtoms()
        modeller = app.Modeller(top, pos)
        used = modeller.addHydrogens(pH=ph, variants=variants, platform=_reference_platform())
        top, pos = modeller.topology, modeller.positions
        if report is not None:
            added = top.getNumAtoms() - n_before
            if added:
                _note(report, f"added {added} hydrogens at pH {ph:g}")
            no_h = sorted(
                {r.name for r in top.residues()
                 if residue_category(r) == "ligands"
                 and not any(a.element is not None and a.element.atomic_number == 1
                             for a in r.atoms())}
            )
            if no_h:
                _note(report, f"no hydrogen definitions for {', '.join(no_h)}: left without "
                      "hydrogens", logging.WARNING)
    arr = np.asarray(pos.value_in_unit(unit.nanometer), dtype=np.float64)
    return top, arr, used


def _match_atoms(
    old_top: app.Topology, old_pos: np.ndarray, new_top: app.Topology, new_pos: np.ndarray,
) -> np.ndarray:
    """Index of each new atom among the old atoms (same name, within 1e-3 nm), -1 if new."""
    old_names = [a.name for a in old_top.atoms()]
    tree = cKDTree(old_pos)
    out = np.full(new_top.getNumAtoms(), -1, dtype=np.int64)
    taken = np.zeros(len(old_names), dtype=bool)
    k = min(4, len(old_names))
    dist, cand = tree.query(new_pos, k=k, distance_upper_bound=1e-3)
    dist = np.asarray(dist).reshape(len(new_pos), k)
    cand = np.asarray(cand).reshape(len(new_pos), k)
    for i, atom in enumerate(new_top.atoms()):
        for d, j in zip(dist[i], cand[i], strict=True):
            if not np.isfinite(d):
                break
            if not taken[j] and old_names[j] == atom.name:
                out[i] = j
                taken[j] = True
                break
    return out


def _merge_bonds(
    cleaned: app.Topology, original: app.Topology, new_to_old: np.ndarray
) -> None:
    """Add bonds of ``original`` (e.g. CONECT records of ligands) lost by cleaning."""
    old_to_new = {int(o): i for i, o in enumerate(new_to_old) if o >= 0}
    atoms = list(cleaned.atoms())
    have = {tuple(sorted((b.atom1.index, b.atom2.index))) for b in cleaned.bonds()}
    for bond in original.bonds():
        a = old_to_new.get(bond.atom1.index)
        b = old_to_new.get(bond.atom2.index)
        if a is None or b is None:
            continue
        key = (min(a, b), max(a, b))
        if key not in have:
            cleaned.addBond(atoms[a], atoms[b], bond.type, bond.order)
            have.add(key)


def prepare_structure(
    source: Any,
    *,
    keep: str | Iterable[str] | None = None,
    clean: bool | None = None,
    ph: float = 7.0,
    add_hydrogens: bool = True,
    add_missing_atoms: bool = True,
    replace: dict[str, str] | None = None,
    masses: Any = None,
    seed: int = 0,
) -> Structure:
    """Read, select and clean ``source`` (see the module docstring).

    Args:
        keep: optional categories to keep: ``"ligands"`` (default), ``"water"``, ``"ions"``,
            ``"all"`` or ``"none"`` (a string, comma-separated string or iterable).
        clean: run PDBFixer/Modeller (non-standard residues, missing heavy atoms, hydrogens).
            ``None`` (default): clean when every atom has an element, skip otherwise.
        ph: pH for hydrogen placement.
        replace: extra ``{residue name: standard name}`` replacements.
        masses: amu per input atom (overrides element masses; required for atoms without an
            element).
        seed: seed for PDBFixer's placement of missing atoms.
    """
    top0, frames0, label, report = read_source(source)
    n_source = top0.getNumAtoms()
    if top0.getNumAtoms() == 0:
        raise ValueError(f"{label} contains no atoms")
    mass_arr = None
    if masses is not None:
        if unit.is_quantity(masses):
            masses = masses.value_in_unit(unit.dalton)
        mass_arr = np.asarray(masses, dtype=np.float64).reshape(-1)
        if mass_arr.shape != (n_source,):
            raise ValueError(
                f"masses: expected one mass (amu) per atom of {label} ({n_source}), got "
                f"{mass_arr.shape[0]}"
            )
    keep_set = parse_keep(keep)
    top1, kept = select(top0, keep_set, label, report)
    frames1 = frames0[:, kept]
    elementless = [a for a in top1.atoms() if a.element is None]
    if clean is None:
        clean = not elementless
        if elementless:
            _note(report, f"{len(elementless)} particles have no element: structure used as is "
                  "(no PDBFixer cleaning)")
    elif clean and elementless:
        raise ValueError(
            f"{label}: cannot clean a structure with {len(elementless)} element-less particles "
            f"(e.g. {elementless[0].name} in {_residue_label(elementless[0].residue)}); "
            "pass clean=False"
        )
    if elementless and mass_arr is None:
        raise ValueError(
            f"{label}: {len(elementless)} particles have no element (e.g. "
            f"{elementless[0].name} in {_residue_label(elementless[0].residue)}); pass masses= "
            "(amu, one per input atom)"
        )
    if not clean:
        kept_masses = None if mass_arr is None else mass_arr[kept]
        return Structure(top1, frames1, kept.astype(np.int64), n_source, label, report,
                         kept_masses)
    replace = dict(replace or {})
    _check_unknown_polymer_residues(top1, replace, label)
    top2, pos0, variants = _clean_frame(
        top1, frames1[0], replace=replace, add_missing_atoms=add_missing_atoms,
        add_hydrogens=add_hydrogens, ph=ph, seed=seed, variants=None, report=report,
    )
    new_to_old = _match_atoms(top1, frames1[0], top2, pos0)
    _merge_bonds(top2, top1, new_to_old)
    unchanged = (
        top2.getNumAtoms() == top1.getNumAtoms()
        and np.all(new_to_old >= 0)
    )
    if frames1.shape[0] == 1:
        frames2 = pos0[None]
    elif unchanged:
        frames2 = frames1[:, new_to_old]
    else:
        out = [pos0]
        names0 = [(a.residue.name, a.name) for a in top2.atoms()]
        for f in range(1, frames1.shape[0]):
            top_f, pos_f, _ = _clean_frame(
                top1, frames1[f], replace=replace, add_missing_atoms=add_missing_atoms,
                add_hydrogens=add_hydrogens, ph=ph, seed=seed, variants=variants, report=None,
            )
            names_f = [(a.residue.name, a.name) for a in top_f.atoms()]
            if names_f != names0:
                raise ValueError(
                    f"{label}: model {f + 1} gives different atoms than model 1 after cleaning; "
                    "map the models separately"
                )
            out.append(pos_f)
        frames2 = np.stack(out)
        _note(report, f"cleaned each of the {frames1.shape[0]} models the same way")
    source_atoms = np.where(new_to_old >= 0, kept[np.maximum(new_to_old, 0)], -1)
    kept_masses = None
    if mass_arr is not None:
        elem_mass = np.array(
            [a.element.mass.value_in_unit(unit.dalton) if a.element is not None else np.nan
             for a in top2.atoms()]
        )
        kept_masses = np.where(source_atoms >= 0, mass_arr[np.maximum(source_atoms, 0)],
                               elem_mass)
    if top2.getNumAtoms() == 0:
        raise ValueError(f"{label}: no atoms left after cleaning")
    top2 = repair_bonds(top2, frames2[0], report)
    return Structure(top2, frames2, source_atoms.astype(np.int64), n_source, label, report,
                     kept_masses)


#: covalent radii (nm) used to infer bonds of ligands that come without CONECT records
_COVALENT_RADIUS_NM = {
    "H": 0.031, "B": 0.084, "C": 0.076, "N": 0.071, "O": 0.066, "F": 0.057, "P": 0.107,
    "S": 0.105, "Cl": 0.102, "Br": 0.120, "I": 0.139, "Se": 0.120, "Si": 0.111,
}
MAX_BOND_NM = 0.3


def repair_bonds(topology: app.Topology, positions: np.ndarray, report: list[str]) -> app.Topology:
    """Drop bonds longer than :data:`MAX_BOND_NM` (chain gaps joined by residue templates) and
    infer the bonds of multi-atom ligands that have none (no CONECT records) from distances.

    Returns ``topology`` itself when nothing changes, else a copy; every change is reported.
    """
    atoms = list(topology.atoms())
    bonds = list(topology.bonds())
    xyz = np.asarray(positions, dtype=np.float64)
    drop = set()
    long_bonds = []
    for k, b in enumerate(bonds):
        if b.atom1.element is None or b.atom2.element is None:
            continue
        d = float(np.linalg.norm(xyz[b.atom1.index] - xyz[b.atom2.index]))
        if d > MAX_BOND_NM:
            drop.add(k)
            long_bonds.append(
                f"{_residue_label(b.atom1.residue)}:{b.atom1.name}-"
                f"{_residue_label(b.atom2.residue)}:{b.atom2.name} ({d:.2f} nm)"
            )
    if long_bonds:
        more = f" and {len(long_bonds) - 5} more" if len(long_bonds) > 5 else ""
        _note(report, f"removed {len(long_bonds)} bond(s) longer than {MAX_BOND_NM} nm (gaps in "
              f"the structure are chain breaks, not bonds): {', '.join(long_bonds[:5])}{more}",
              logging.WARNING)
    bonded = np.zeros(len(atoms), dtype=bool)
    for b in bonds:
        bonded[b.atom1.index] = bonded[b.atom2.index] = True
    extra: list[tuple[int, int]] = []
    inferred: dict[str, int] = {}
    for res in topology.residues():
        idx = np.array([a.index for a in res.atoms()], dtype=np.int64)
        if len(idx) < 2 or bonded[idx].any() or residue_category(res) not in ("ligands",):
            continue
        symbols = [atoms[i].element.symbol if atoms[i].element is not None else None for i in idx]
        if any(sym is None for sym in symbols):
            continue
        radii = np.array([_COVALENT_RADIUS_NM.get(sym, 0.15) for sym in symbols])
        tree = cKDTree(xyz[idx])
        for i, j in sorted(tree.query_pairs(r=2 * radii.max() + 0.045)):
            d = float(np.linalg.norm(xyz[idx[i]] - xyz[idx[j]]))
            if d < radii[i] + radii[j] + 0.045 and not (symbols[i] == symbols[j] == "H"):
                extra.append((int(idx[i]), int(idx[j])))
                inferred[res.name] = inferred.get(res.name, 0) + 1
    if inferred:
        _note(report, "inferred bonds from distances (no CONECT records) for "
              + ", ".join(f"{k} ({v} bonds)" for k, v in sorted(inferred.items())),
              logging.WARNING)
    if not drop and not extra:
        return topology
    new = app.Topology()
    new.setPeriodicBoxVectors(topology.getPeriodicBoxVectors())
    amap: dict[int, app.topology.Atom] = {}
    for chain in topology.chains():
        c = new.addChain(chain.id)
        for res in chain.residues():
            r = new.addResidue(res.name, c, res.id, res.insertionCode)
            for atom in res.atoms():
                amap[atom.index] = new.addAtom(atom.name, atom.element, r, atom.id,
                                               atom.formalCharge)
    for k, b in enumerate(bonds):
        if k not in drop:
            new.addBond(amap[b.atom1.index], amap[b.atom2.index], b.type, b.order)
    for i, j in extra:
        new.addBond(amap[i], amap[j])
    return new
