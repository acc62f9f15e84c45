"""Files for people and viewers: bead PDB (with CONECT for every CG bond), DCD, summaries."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import openmm.app as app
import openmm.unit as unit

from openmm_cgml.mapping.bead_mapping import BeadMapping
from openmm_cgml.utils import atomic_path, atomic_write


def _pdb_serials(topology: app.Topology) -> list[int]:
    """Atom serial numbers as ``openmm.app.PDBFile`` writes them (one skipped per TER)."""
    serials = []
    nxt = 0
    prev_chain = None
    for chain in topology.chains():
        for atom in chain.atoms():
            if atom.residue.chain is not prev_chain:
                nxt += 1
                prev_chain = atom.residue.chain
            serials.append(nxt)
            nxt += 1
    return serials


def bead_pdb_text(mapping: BeadMapping, bead_xyz: np.ndarray | None = None) -> str:
    """PDB text of the beads: one MODEL per frame and CONECT records for all CG bonds.

    Beads carry the pseudo element C (see :func:`build_bead_topology`), so mdtraj, VMD and
    PyMOL read every bead alike.

    Args:
        bead_xyz: ``[B, 3]`` or ``[F, B, 3]`` nm; default: the beads of ``mapping.frames``.
    """
    if bead_xyz is None:
        bead_xyz = mapping.bead_positions()
    xyz = np.asarray(bead_xyz, dtype=np.float64)
    if xyz.ndim == 2:
        xyz = xyz[None]
    if xyz.shape[1:] != (mapping.num_beads, 3):
        raise ValueError(f"bead positions must be [F, {mapping.num_beads}, 3], got {xyz.shape}")
    top = mapping.topology
    buf = io.StringIO()
    app.PDBFile.writeHeader(top, buf)
    for k, frame in enumerate(xyz):
        app.PDBFile.writeModel(
            top, unit.Quantity(frame * 10.0, unit.angstrom), buf,
            modelIndex=(k + 1) if len(xyz) > 1 else None,
        )
    serials = _pdb_serials(top)
    if serials and serials[-1] <= 99999:
        partners: dict[int, list[int]] = {}
        for i, j in mapping.cg_bonds:
            partners.setdefault(serials[int(i)], []).append(serials[int(j)])
            partners.setdefault(serials[int(j)], []).append(serials[int(i)])
        for s in sorted(partners):
            others = sorted(partners[s])
            for k in range(0, len(others), 4):
                buf.write(f"CONECT{s:5d}" + "".join(f"{o:5d}" for o in others[k:k + 4]) + "\n")
    buf.write("END\n")
    return buf.getvalue()


def write_bead_pdb(
    mapping: BeadMapping, path: str | os.PathLike, bead_xyz: np.ndarray | None = None
) -> Path:
    """Write :func:`bead_pdb_text` atomically."""
    return atomic_write(path, bead_pdb_text(mapping, bead_xyz))


def write_bead_dcd(
    mapping: BeadMapping,
    path: str | os.PathLike,
    bead_xyz: np.ndarray,
    dt_ps: float = 1.0,
    box_vectors: Any = None,
) -> Path:
    """Write bead frames ``[T, B, 3]`` nm as DCD (openmm's writer) atomically."""
    xyz = np.asarray(bead_xyz, dtype=np.float64)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        dcd = app.DCDFile(fh, mapping.topology, dt_ps * unit.picosecond)
        for frame in xyz:
            dcd.writeModel(unit.Quantity(frame, unit.nanometer), periodicBoxVectors=box_vectors)
    return Path(path)


def summary_text(mapping: BeadMapping) -> str:
    """A short human-readable summary of a mapping and of the cleaning report."""
    s = mapping.summary()
    apb = s["atoms_per_bead"]
    lines = [
        f"scheme: {s['scheme']} {s['scheme_options']}",
        f"atoms mapped: {s['num_atoms']} (input had {mapping.source_num_atoms})",
        f"beads: {s['num_beads']} in {s['num_chains']} chain(s); CG bonds: {s['num_cg_bonds']}",
        f"atoms per bead: mean {apb['mean']:.2f}, min {apb['min']}, max {apb['max']}",
        f"total mass: {s['total_mass_amu']:.2f} amu; frames: {s['num_frames']}",
        f"bead types: {len(s['bead_types'])}",
    ]
    if s["report"]:
        lines.append("cleaning and mapping actions:")
        lines += [f"  - {r}" for r in s["report"]]
    else:
        lines.append("cleaning and mapping actions: none needed")
    return "\n".join(lines) + "\n"
