"""Build an all-atom peptide from its sequence, so datasets can be made from nothing.

The backbone (N, CA, C, O, the L-configured CB and the ACE/NME cap heavy atoms) is placed
from internal
coordinates (ideal bond lengths and angles, trans peptide bonds, a chosen phi/psi,
polyproline-II by default, which keeps side chains apart); PDBFixer then adds the side
chains from its residue templates, the C-terminal OXT (charged termini) and the hydrogens
(pH 7), and the result is energy-minimised with amber14 + GBn2 so that it is physically
sane (no clashes, ideal covalent geometry). Units: nm.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

#: one-letter code -> residue name (the 20 standard amino acids)
ONE_TO_THREE: dict[str, str] = {
    "A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "Q": "GLN", "E": "GLU",
    "G": "GLY", "H": "HIS", "I": "ILE", "L": "LEU", "K": "LYS", "M": "MET", "F": "PHE",
    "P": "PRO", "S": "SER", "T": "THR", "W": "TRP", "Y": "TYR", "V": "VAL",
}
TERMINI = ("capped", "charged")

# ideal backbone geometry (Engh & Huber), nm and degrees
_B_N_CA, _B_CA_C, _B_C_N, _B_C_O, _B_CH3_C = 0.1458, 0.1525, 0.1329, 0.1231, 0.1520
_A_N_CA_C, _A_CA_C_N, _A_C_N_CA, _A_CA_C_O, _A_N_C_O = 111.2, 116.2, 121.7, 120.5, 123.0


def parse_sequence(sequence: str) -> list[str]:
    """One-letter sequence (case-insensitive, spaces/dashes ignored) -> residue names."""
    seq = "".join(ch for ch in sequence.upper() if ch not in " -_\n\t")
    if not seq:
        raise ValueError("peptide sequence is empty")
    bad = sorted({ch for ch in seq if ch not in ONE_TO_THREE})
    if bad:
        raise ValueError(
            f"peptide sequence {sequence!r} has unknown residue letters {''.join(bad)}; "
            f"use the 20 standard one-letter codes {''.join(sorted(ONE_TO_THREE))}"
        )
    return [ONE_TO_THREE[ch] for ch in seq]


def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float,
           torsion: float) -> np.ndarray:
    """Position of atom d bonded to c, with |cd| = bond, angle(b,c,d) and dihedral(a,b,c,d)
    in degrees (natural extension reference frame)."""
    ang, tor = np.radians(angle), np.radians(torsion)
    bc = c - b
    bc /= np.linalg.norm(bc)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d2 = np.array([-bond * np.cos(ang), bond * np.sin(ang) * np.cos(tor),
                   bond * np.sin(ang) * np.sin(tor)])
    return c + d2[0] * bc + d2[1] * m + d2[2] * n


def backbone_pdb(residues: list[str], termini: str = "capped", phi: float = -75.0,
                 psi: float = 145.0) -> str:
    """PDB text of the backbone heavy atoms (+ cap heavy atoms) from internal coordinates.

    Args:
        residues: three-letter residue names.
        termini: ``"capped"`` (ACE ... NME) or ``"charged"`` (free NH3+ / COO-).
        phi, psi: backbone dihedrals in degrees for every residue (proline uses phi = -65).
    """
    if termini not in TERMINI:
        raise ValueError(f"termini must be one of {TERMINI}, got {termini!r}")
    atoms: list[tuple[str, int, np.ndarray]] = []  # (name, residue index, xyz nm)
    res_names = (["ACE"] if termini == "capped" else []) + list(residues) + (
        ["NME"] if termini == "capped" else [])
    off = 1 if termini == "capped" else 0

    def phi_of(i: int) -> float:
        return -65.0 if residues[i] == "PRO" else phi

    # chain of backbone atoms, each (name, residue index)
    p0 = np.zeros(3)
    if termini == "capped":
        ch3 = p0
        c_ace = np.array([_B_CH3_C, 0.0, 0.0])
        ang = np.radians(180.0 - _A_CA_C_N)
        n1 = c_ace + _B_C_N * np.array([np.cos(ang), np.sin(ang), 0.0])
        ca1 = _place(ch3, c_ace, n1, _B_N_CA, _A_C_N_CA, 180.0)
        c1 = _place(c_ace, n1, ca1, _B_CA_C, _A_N_CA_C, phi_of(0))
        atoms += [("CH3", 0, ch3), ("C", 0, c_ace)]
        atoms.append(("O", 0, _place(ca1, n1, c_ace, _B_C_O, _A_N_C_O, 0.0)))
    else:
        n1 = p0
        ca1 = np.array([_B_N_CA, 0.0, 0.0])
        ang = np.radians(180.0 - _A_N_CA_C)
        c1 = ca1 + _B_CA_C * np.array([np.cos(ang), np.sin(ang), 0.0])
    n, ca, c = n1, ca1, c1
    for i in range(len(residues)):
        if i > 0:
            n_new = _place(n, ca, c, _B_C_N, _A_CA_C_N, psi)
            ca_new = _place(ca, c, n_new, _B_N_CA, _A_C_N_CA, 180.0)
            c = _place(c, n_new, ca_new, _B_CA_C, _A_N_CA_C, phi_of(i))
            n, ca = n_new, ca_new
        o = _place(n, ca, c, _B_C_O, _A_CA_C_O, psi + 180.0)
        atoms += [("N", i + off, n), ("CA", i + off, ca), ("C", i + off, c), ("O", i + off, o)]
        if residues[i] != "GLY":  # L-amino acid: dihedral C-N-CA-CB = -122.5 degrees
            atoms.append(("CB", i + off, _place(c, n, ca, 0.1530, 110.5, -122.5)))
    if termini == "capped":
        n_nme = _place(n, ca, c, _B_C_N, _A_CA_C_N, psi)
        c_nme = _place(ca, c, n_nme, 0.1449, _A_C_N_CA, 180.0)
        k = len(residues) + 1
        atoms += [("N", k, n_nme), ("C", k, c_nme)]

    lines = []
    for serial, (name, ri, xyz) in enumerate(atoms, start=1):
        x, y, z = 10.0 * xyz  # PDB is in Angstrom
        element = name[0]
        pdb_name = f" {name:<3s}" if len(name) < 4 else name
        lines.append(
            f"ATOM  {serial:5d} {pdb_name} {res_names[ri]:>3s} A{ri + 1:4d}    "
            f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {element:>2s}"
        )
    lines += ["TER", "END"]
    return "\n".join(lines) + "\n"


def build_peptide(
    sequence: str,
    termini: str = "capped",
    phi: float = -75.0,
    psi: float = 145.0,
    seed: int = 0,
    minimize: bool = True,
    platform: str | None = None,
) -> tuple[Any, np.ndarray]:
    """Build an all-atom peptide with hydrogens (pH 7).

    Args:
        sequence: one-letter amino-acid sequence, e.g. ``"GYDPETGTWG"``.
        termini: ``"capped"`` (acetyl / N-methylamide caps) or ``"charged"`` (zwitterion).
        phi, psi: starting backbone dihedrals in degrees (default polyproline II).
        seed: seed of PDBFixer's side-chain placement minimisation.
        minimize: minimise with amber14 + implicit/gbn2.xml afterwards.
        platform: OpenMM platform name for the minimisation (default: automatic).

    Returns:
        ``(topology, positions)``: an ``openmm.app.Topology`` and float64 [n_atoms, 3] nm.
    """
    import openmm
    from openmm import app, unit
    from pdbfixer import PDBFixer

    residues = parse_sequence(sequence)
    fixer = PDBFixer(pdbfile=io.StringIO(backbone_pdb(residues, termini, phi, psi)))
    fixer.findMissingResidues()
    fixer.missingResidues = {}
    fixer.findNonstandardResidues()
    fixer.findMissingAtoms()
    fixer.addMissingAtoms(seed=seed)
    fixer.addMissingHydrogens(7.0)
    topology = fixer.topology
    positions = np.array(fixer.positions.value_in_unit(unit.nanometer), dtype=np.float64)
    _fix_methine_hydrogens(topology, positions)
    if minimize:
        from openmm_cgml.reference.allatom import select_platform

        ff = app.ForceField("amber14-all.xml", "implicit/gbn2.xml")
        try:
            system = ff.createSystem(topology, nonbondedMethod=app.NoCutoff,
                                     constraints=app.HBonds)
        except ValueError as exc:
            raise ValueError(f"peptide {sequence!r}: amber14 cannot parametrise the built "
                             f"structure ({exc})") from exc
        integrator = openmm.VerletIntegrator(0.001)
        plat, props = select_platform(platform)
        context = openmm.Context(system, integrator, plat, props)
        context.setPositions(positions)
        context.applyConstraints(1e-6)
        openmm.LocalEnergyMinimizer.minimize(context, 1.0, 0)
        state = context.getState(getPositions=True, getEnergy=True)
        energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        positions = np.array(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
        del context
        if not np.isfinite(energy) or energy > 1e4 * max(1, len(residues)):
            raise RuntimeError(f"peptide {sequence!r}: minimisation did not converge "
                               f"(E = {energy:.1f} kJ/mol)")
    bad = [i for i, v in enumerate(ca_chirality(topology, positions)) if not v > 0]
    if bad:
        raise RuntimeError(f"peptide {sequence!r}: residues {bad} lost their L configuration "
                           "while building; try other phi/psi")
    return topology, positions


def _fix_methine_hydrogens(topology: Any, positions: np.ndarray) -> None:
    """Put every hydrogen on a carbon with three heavy neighbours at the tetrahedral
    position opposite them (in place, nm). Modeller.addHydrogens can place proline's HA
    almost in the N-CA-C plane, from where a minimiser may invert the centre."""
    neighbours: dict[int, list[Any]] = {}
    for a, b in topology.bonds():
        neighbours.setdefault(a.index, []).append(b)
        neighbours.setdefault(b.index, []).append(a)
    for atom in topology.atoms():
        if atom.element is None or atom.element.symbol != "C":
            continue
        nb = neighbours.get(atom.index, [])
        heavy = [x for x in nb if x.element is not None and x.element.symbol != "H"]
        hyd = [x for x in nb if x.element is not None and x.element.symbol == "H"]
        if len(heavy) == 3 and len(hyd) == 1:
            c = positions[atom.index]
            u = sum((positions[x.index] - c) / np.linalg.norm(positions[x.index] - c)
                    for x in heavy)
            norm = np.linalg.norm(u)
            if norm > 1e-6:
                positions[hyd[0].index] = c - 0.109 * u / norm


def ca_chirality(topology: Any, positions: np.ndarray) -> list[float]:
    """Signed volume (N-CA) x (C-CA) . (CB-CA) in nm^3 per residue with a CB
    (> 0 for L-amino acids)."""
    out = []
    for res in topology.residues():
        at = {a.name: a.index for a in res.atoms()}
        if {"N", "CA", "C", "CB"} <= set(at):
            n, ca, c, cb = (positions[at[k]] for k in ("N", "CA", "C", "CB"))
            out.append(float(np.dot(np.cross(n - ca, c - ca), cb - ca)))
    return out


def write_peptide_pdb(sequence: str, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Build a peptide (see :func:`build_peptide`) and write it as a PDB file (atomically)."""
    from openmm import unit
    from openmm.app import PDBFile

    from openmm_cgml.utils import atomic_path

    topology, positions = build_peptide(sequence, **kwargs)
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        PDBFile.writeFile(topology, positions * unit.nanometer, fh)
    return Path(path)
