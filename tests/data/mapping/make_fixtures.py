"""Regenerate the small structure fixtures of the mapping tests (no downloads).

    PYTHONPATH=. python tests/data/mapping/make_fixtures.py

Sources: openmm's bundled villin (``openmm/app/data/test.pdb``) and POPC membrane
(``POPC.pdb``), and PDBFixer's residue templates for a peptide built from its sequence.
Everything is seeded, so the files are reproducible.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit

HERE = Path(__file__).resolve().parent
DATA = Path(app.__file__).resolve().parent / "data"
SEED = 2026


def _protein_only(pdb: app.PDBFile) -> tuple[app.Topology, np.ndarray]:
    modeller = app.Modeller(pdb.topology, pdb.positions)
    modeller.delete([r for r in modeller.topology.residues() if r.name in ("HOH", "CL", "NA")])
    return modeller.topology, np.asarray(modeller.getPositions().value_in_unit(unit.nanometer))


def _write(path: Path, topology: app.Topology, frames: list[np.ndarray]) -> None:
    buf = io.StringIO()
    if len(frames) == 1:
        app.PDBFile.writeFile(topology, frames[0] * 10.0, buf, keepIds=True)
    else:
        app.PDBFile.writeHeader(topology, buf)
        for k, f in enumerate(frames):
            app.PDBFile.writeModel(topology, f * 10.0, buf, modelIndex=k + 1, keepIds=True)
        app.PDBFile.writeFooter(topology, buf)
    path.write_text(buf.getvalue())
    print(f"wrote {path.relative_to(HERE.parent.parent.parent)} ({path.stat().st_size} bytes)")


def villin_multimodel(rng: np.random.Generator) -> None:
    """Villin without solvent, 3 models (NMR-like): Gaussian noise of 0.01 nm per model."""
    top, pos = _protein_only(app.PDBFile(str(DATA / "test.pdb")))
    frames = [pos] + [pos + rng.normal(scale=0.01, size=pos.shape) for _ in range(2)]
    _write(HERE / "villin_3models.pdb", top, frames)


def villin_missing_atoms() -> None:
    """Villin without hydrogens, side chain of residues 4 and 10 cut after CB, no OXT."""
    top, pos = _protein_only(app.PDBFile(str(DATA / "test.pdb")))
    modeller = app.Modeller(top, pos * unit.nanometer)
    residues = list(modeller.topology.residues())
    delete = [a for a in modeller.topology.atoms() if a.element.symbol == "H"]
    for k in (3, 9):
        delete += [a for a in residues[k].atoms()
                   if a.name not in ("N", "CA", "C", "O", "CB") and a.element.symbol != "H"]
    delete += [a for a in modeller.topology.atoms() if a.name == "OXT"]
    modeller.delete(delete)
    pos2 = np.asarray(modeller.getPositions().value_in_unit(unit.nanometer))
    _write(HERE / "villin_missing_atoms.pdb", modeller.topology, [pos2])


def villin_altloc() -> None:
    """Villin (no solvent) in which residue 5's side chain has two alternate locations."""
    top, pos = _protein_only(app.PDBFile(str(DATA / "test.pdb")))
    buf = io.StringIO()
    app.PDBFile.writeFile(top, pos * 10.0, buf, keepIds=True)
    out = []
    res5 = next(r for i, r in enumerate(top.residues()) if i == 4)
    names = {a.name for a in res5.atoms() if a.name not in ("N", "CA", "C", "O", "H", "HA")}
    for line in buf.getvalue().splitlines():
        if line.startswith("ATOM") and int(line[22:26]) == int(res5.id) and \
                line[12:16].strip() in names:
            a = line[:16] + "A" + line[17:54] + "  0.60" + line[60:]
            x = float(line[30:38]) + 1.5  # B location shifted 1.5 A along x
            b = line[:16] + "B" + line[17:30] + f"{x:8.3f}" + line[38:54] + "  0.40" + line[60:]
            out += [a, b]
        else:
            out.append(line)
    (HERE / "villin_altloc.pdb").write_text("\n".join(out) + "\n")
    print("wrote tests/data/mapping/villin_altloc.pdb")


def popc_lipid() -> None:
    """One POPC lipid (134 atoms) from openmm's membrane patch, with CONECT bonds."""
    pdb = app.PDBFile(str(DATA / "POPC.pdb"))
    first = next(pdb.topology.residues())
    keep = {a.index for a in first.atoms()}
    modeller = app.Modeller(pdb.topology, pdb.positions)
    modeller.delete([r for r in modeller.topology.residues() if r.index != first.index])
    pos = np.asarray(modeller.getPositions().value_in_unit(unit.nanometer))
    assert len(pos) == len(keep)
    modeller.topology.setPeriodicBoxVectors(None)
    _write(HERE / "popc.pdb", modeller.topology, [pos])


def villin_with_ligand() -> None:
    """Villin + its 2 Cl- + 20 nearest waters + one POPC placed 3 nm away (a 'ligand')."""
    vill = app.PDBFile(str(DATA / "test.pdb"))
    modeller = app.Modeller(vill.topology, vill.positions)
    prot = np.array([a.index for a in vill.topology.atoms() if a.residue.name not in
                     ("HOH", "CL", "NA")])
    xyz = np.asarray(vill.getPositions().value_in_unit(unit.nanometer))
    centre = xyz[prot].mean(axis=0)
    waters = [r for r in vill.topology.residues() if r.name == "HOH"]
    dist = [np.linalg.norm(xyz[next(r.atoms()).index] - centre) for r in waters]
    keep = {waters[i].index for i in np.argsort(dist)[:20]}
    modeller.delete([r for r in modeller.topology.residues()
                     if r.name == "HOH" and r.index not in keep])
    lip = app.PDBFile(str(HERE / "popc.pdb"))
    lxyz = np.asarray(lip.getPositions().value_in_unit(unit.nanometer))
    lxyz = lxyz - lxyz.mean(axis=0) + centre + np.array([3.0, 0.0, 0.0])
    modeller.add(lip.topology, lxyz * unit.nanometer)
    modeller.topology.setPeriodicBoxVectors(None)
    pos = np.asarray(modeller.getPositions().value_in_unit(unit.nanometer))
    _write(HERE / "villin_ligand.pdb", modeller.topology, [pos])


def peptide_from_sequence(sequence: str = "ACDEFGHIKW") -> None:
    """A peptide built from its sequence with PDBFixer's templates."""
    three = {
        "A": "ALA", "C": "CYS", "D": "ASP", "E": "GLU", "F": "PHE", "G": "GLY", "H": "HIS",
        "I": "ILE", "K": "LYS", "L": "LEU", "M": "MET", "N": "ASN", "P": "PRO", "Q": "GLN",
        "R": "ARG", "S": "SER", "T": "THR", "V": "VAL", "W": "TRP", "Y": "TYR",
    }
    _from_sequence([three[c] for c in sequence], HERE / f"peptide_{sequence}.pdb")


def dna_from_sequence(sequence: str = "GCATGC") -> None:
    """A single DNA strand built from its sequence with PDBFixer's templates."""
    _from_sequence([f"D{c}" for c in sequence], HERE / f"dna_{sequence}.pdb")


def _from_sequence(names: list[str], path: Path) -> None:
    """SEQRES + three template residues; PDBFixer builds the missing residues and atoms."""
    from pdbfixer import PDBFixer

    fixer0 = PDBFixer(pdbfile=io.StringIO(
        "ATOM      1  CA  GLY A   1       0.000   0.000   0.000  1.00  0.00           C\nEND\n"
    ))
    lines = []
    for k in range(0, len(names), 13):
        chunk = " ".join(f"{n:>3}" for n in names[k:k + 13])
        lines.append(f"SEQRES {k // 13 + 1:>3} A {len(names):>4}  {chunk}")
    serial = 1
    # three residues from templates (first, middle, last); PDBFixer builds the rest
    mid = len(names) // 2
    for resnum, shift in ((1, (0.0, 0.0)), (mid, (9.0, 5.0)), (len(names), (18.0, 0.0))):
        name = names[resnum - 1]
        tmpl = fixer0.templates[name]
        for atom, p in zip(tmpl.topology.atoms(), tmpl.positions.value_in_unit(unit.angstrom),
                           strict=True):
            if atom.element.symbol == "H":
                continue
            lines.append(
                f"ATOM  {serial:>5} {atom.name:<4} {name:>3} A{resnum:>4}    "
                f"{p[0] + shift[0]:8.3f}{p[1] + shift[1]:8.3f}{p[2]:8.3f}  1.00  0.00          "
                f"{atom.element.symbol:>2}"
            )
            serial += 1
    lines.append("END")
    fixer = PDBFixer(pdbfile=io.StringIO("\n".join(lines) + "\n"))
    fixer.platform = openmm.Platform.getPlatformByName("Reference")  # reproducible minimisation
    fixer.findMissingResidues()
    fixer.findMissingAtoms()
    fixer.addMissingAtoms(seed=SEED)
    fixer.addMissingHydrogens(7.0)
    pos = np.asarray(fixer.positions.value_in_unit(unit.nanometer))
    _write(path, fixer.topology, [pos])


def main() -> None:
    os.chdir(HERE)
    random.seed(SEED)  # Modeller.addHydrogens places hydrogens with Python's random
    rng = np.random.default_rng(SEED)
    villin_multimodel(rng)
    villin_missing_atoms()
    villin_altloc()
    popc_lipid()
    villin_with_ligand()
    peptide_from_sequence()
    dna_from_sequence()


if __name__ == "__main__":
    main()
