"""Map all-atom trajectories onto beads: one sparse matrix product per chunk of frames."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from openmm_cgml.mapping.bead_mapping import BeadMapping, _as_nm_array

log = logging.getLogger(__name__)


def _selection_matrix(mapping: BeadMapping, n_traj_atoms: int) -> sp.csr_matrix:
    """Sparse [B, n_traj_atoms] weights for a trajectory of either the mapped or the source atoms.

    Atoms the cleaning added (absent from a source-indexed trajectory) are left out and the
    remaining weights of their bead renormalised.
    """
    if n_traj_atoms == mapping.num_atoms:
        return mapping.weights
    if n_traj_atoms == mapping.source_num_atoms:
        src = mapping.source_atoms
        present = src >= 0
        masses = mapping.atom_masses[present]
        beads = mapping.atom_to_bead[present]
        totals = np.bincount(beads, weights=masses, minlength=mapping.num_beads)
        if np.any(totals == 0):
            raise ValueError(
                "map_trajectory: some beads consist only of atoms added by cleaning, which the "
                "trajectory does not have; map a trajectory of the cleaned structure instead"
            )
        if not np.all(present):
            log.warning(
                "map_trajectory: %d atoms added by cleaning are absent from the trajectory; "
                "their beads use the remaining atoms", int((~present).sum()),
            )
        return sp.csr_matrix(
            (masses / totals[beads], (beads, src[present])),
            shape=(mapping.num_beads, n_traj_atoms),
        )
    raise ValueError(
        f"map_trajectory: trajectory has {n_traj_atoms} atoms; the mapping has "
        f"{mapping.num_atoms} (mapped) and {mapping.source_num_atoms} (input) atoms"
    )


def _apply(weights: sp.csr_matrix, xyz: np.ndarray) -> np.ndarray:
    """[T, n, 3] -> [T, B, 3] with ``weights`` [B, n] (one sparse product)."""
    t, n, _ = xyz.shape
    # (T, n*3) @ (n*3, B*3)^T is avoided: put atoms first, frames*xyz as columns
    cols = np.ascontiguousarray(np.moveaxis(xyz, 1, 0)).reshape(n, t * 3)
    out = weights @ cols  # [B, T*3]
    return np.ascontiguousarray(np.moveaxis(np.asarray(out).reshape(-1, t, 3), 0, 1))


def _make_whole(traj: Any, mapping: BeadMapping) -> Any:
    """Make molecules whole across periodic boundaries (mdtraj), using the mapping's bonds."""
    if traj.unitcell_vectors is None:
        return traj
    import mdtraj

    n = traj.n_atoms
    if n == mapping.num_atoms:
        bonds = mapping.atom_bonds
    else:
        src = mapping.source_atoms
        ok = (src[mapping.atom_bonds[:, 0]] >= 0) & (src[mapping.atom_bonds[:, 1]] >= 0)
        bonds = src[mapping.atom_bonds[ok]]
    top_bonds = np.array([[b[0].index, b[1].index] for b in traj.topology.bonds], dtype=np.int64)
    all_bonds = np.concatenate([bonds.reshape(-1, 2), top_bonds.reshape(-1, 2)]) \
        if len(top_bonds) else bonds.reshape(-1, 2)
    if len(all_bonds) == 0:
        return traj
    all_bonds = np.unique(np.sort(all_bonds, axis=1), axis=0).astype(np.int32)
    del mdtraj
    return traj.make_molecules_whole(inplace=False, sorted_bonds=all_bonds)


def iter_bead_frames(
    mapping: BeadMapping,
    traj_or_path: Any,
    *,
    top: Any = None,
    chunk: int = 1000,
    stride: int = 1,
    make_whole: bool = True,
) -> Iterator[np.ndarray]:
    """Yield float32-compatible float64 arrays [t, B, 3] (nm), chunk by chunk (streaming).

    Args:
        traj_or_path: ``mdtraj.Trajectory``, positions array ``[T, n, 3]`` nm (numpy or
            Quantity), or a trajectory file path (DCD, XTC, HDF5, ... anything
            ``mdtraj.iterload`` reads; ``top`` gives its topology: a PDB path,
            ``mdtraj.Topology`` or ``openmm.app.Topology``; default: the mapping's
            all-atom topology).
        chunk: frames per chunk (memory ~ chunk * n * 3 * 4 bytes).
        stride: read every ``stride``-th frame.
        make_whole: make molecules whole across periodic boundaries first (needs box vectors).
    """
    import mdtraj

    if chunk < 1 or stride < 1:
        raise ValueError("chunk and stride must be >= 1")
    if isinstance(traj_or_path, (str, os.PathLike)):
        path = Path(traj_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"trajectory file {path} does not exist")
        md_top = _mdtraj_topology(mapping, top, path)
        try:
            iterator = mdtraj.iterload(str(path), top=md_top, chunk=chunk, stride=stride)
            for piece in iterator:
                yield _map_md(mapping, piece, make_whole)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: could not read trajectory: {exc}") from None
        return
    if isinstance(traj_or_path, mdtraj.Trajectory):
        traj = traj_or_path[::stride] if stride > 1 else traj_or_path
        for s in range(0, traj.n_frames, chunk):
            yield _map_md(mapping, traj[s:s + chunk], make_whole)
        return
    xyz = _as_nm_array(traj_or_path)
    if xyz.ndim == 2:
        xyz = xyz[None]
    if xyz.ndim != 3 or xyz.shape[2] != 3:
        raise ValueError(f"map_trajectory: positions must be [T, n, 3] nm, got {xyz.shape}")
    xyz = xyz[::stride]
    w = _selection_matrix(mapping, xyz.shape[1])
    for s in range(0, xyz.shape[0], chunk):
        yield _apply(w, xyz[s:s + chunk])


def _mdtraj_topology(mapping: BeadMapping, top: Any, path: Path) -> Any:
    import mdtraj
    import openmm.app as app

    if top is None:
        if path.suffix.lower() in (".h5", ".pdb", ".gro", ".lh5"):
            return None
        return mdtraj.Topology.from_openmm(mapping.atom_topology)
    if isinstance(top, app.Topology):
        return mdtraj.Topology.from_openmm(top)
    return top


def _map_md(mapping: BeadMapping, traj: Any, make_whole: bool) -> np.ndarray:
    if make_whole:
        traj = _make_whole(traj, mapping)
    w = _selection_matrix(mapping, traj.n_atoms)
    return _apply(w, traj.xyz)


def map_trajectory(
    mapping: BeadMapping,
    traj_or_path: Any,
    *,
    top: Any = None,
    chunk: int = 1000,
    stride: int = 1,
    make_whole: bool = True,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Bead trajectory ``[T, num_beads, 3]`` (nm) of an all-atom trajectory.

    The trajectory may hold the mapped atoms (``mapping.num_atoms``) or all atoms of the input
    the mapping was made from (``mapping.source_num_atoms``, e.g. with the waters the mapping
    dropped). Molecules are made whole across periodic boundaries first (when the trajectory
    has box vectors), then each chunk is one sparse matrix product. Files are streamed with
    ``mdtraj.iterload`` (see :func:`iter_bead_frames` for the arguments), so only the bead
    trajectory has to fit in memory.
    """
    pieces = [p.astype(dtype, copy=False) for p in iter_bead_frames(
        mapping, traj_or_path, top=top, chunk=chunk, stride=stride, make_whole=make_whole
    )]
    if not pieces:
        return np.zeros((0, mapping.num_beads, 3), dtype=dtype)
    return np.concatenate(pieces, axis=0)


def bead_trajectory(mapping: BeadMapping, bead_xyz: np.ndarray, unitcell_vectors: Any = None):
    """An ``mdtraj.Trajectory`` of beads (``mapping.topology``) from ``[T, B, 3]`` nm."""
    import mdtraj

    md_top = mdtraj.Topology.from_openmm(mapping.topology)
    traj = mdtraj.Trajectory(np.asarray(bead_xyz, dtype=np.float32), md_top)
    if unitcell_vectors is not None:
        traj.unitcell_vectors = np.asarray(unitcell_vectors, dtype=np.float32)
    return traj
