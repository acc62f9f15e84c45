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


def _whole_levels(mapping: BeadMapping, n_traj_atoms: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Breadth-first spanning-tree edges of every molecule, grouped by depth.

    Returns ``[(parents, children), ...]`` (trajectory atom indices); processing the levels in
    order places each child next to an already placed parent.
    """
    cache = mapping.__dict__.setdefault("_whole_levels_cache", {})
    if n_traj_atoms in cache:
        return cache[n_traj_atoms]
    from scipy.sparse.csgraph import breadth_first_order

    from openmm_cgml.mapping.schemes import adjacency_matrix

    n = mapping.num_atoms
    adj = adjacency_matrix(n, mapping.atom_bonds)
    depth = np.full(n, -1, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    for root in range(n):
        if depth[root] >= 0:
            continue
        order, pred = breadth_first_order(adj, root, directed=False, return_predecessors=True)
        depth[root] = 0
        for v in order[1:]:
            parent[v] = pred[v]
            depth[v] = depth[pred[v]] + 1
    if n_traj_atoms == mapping.num_atoms:
        index = np.arange(n)
    else:
        index = mapping.source_atoms
    levels = []
    for d in range(1, int(depth.max()) + 1 if n else 1):
        child = np.flatnonzero(depth == d)
        par = parent[child]
        ok = (index[child] >= 0) & (index[par] >= 0)
        if ok.any():
            levels.append((index[par[ok]], index[child[ok]]))
    cache[n_traj_atoms] = levels
    return levels


def _minimum_image(d: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Shortest periodic image of vectors ``d`` [T, m, 3] for boxes [T, 3, 3] (rows a, b, c;
    OpenMM's reduced triclinic form: a along x, b in the xy plane)."""
    for k in (2, 1, 0):
        vec = box[:, k, :]  # [T, 3]
        length = box[:, k, k]  # [T]
        shift = np.round(d[..., k] / length[:, None])  # [T, m]
        d = d - shift[..., None] * vec[:, None, :]
    return d


def unwrap_molecules(
    mapping: BeadMapping, xyz: np.ndarray, box: np.ndarray | None
) -> np.ndarray:
    """Unwrap molecules across periodic boundaries (in place on a float copy).

    Args:
        xyz: ``[T, n, 3]`` nm, ``n`` = mapped or input atoms of ``mapping``.
        box: ``[3, 3]`` or ``[T, 3, 3]`` box vectors (rows) in nm, or None (returns ``xyz``).

    Each atom is moved to the periodic image nearest its bonded parent in a breadth-first
    spanning tree of its molecule, level by level (vectorised over frames and atoms).
    """
    if box is None:
        return xyz
    box = np.asarray(box, dtype=np.float64)
    if box.ndim == 2:
        box = np.broadcast_to(box, (xyz.shape[0], 3, 3))
    if box.shape != (xyz.shape[0], 3, 3):
        raise ValueError(f"box must be [3, 3] or [T, 3, 3] nm, got {box.shape}")
    if not np.all(np.diagonal(box, axis1=1, axis2=2) > 0):
        return xyz
    out = np.array(xyz, dtype=np.float64, copy=True)
    for parents, children in _whole_levels(mapping, xyz.shape[1]):
        d = out[:, children] - out[:, parents]
        out[:, children] = out[:, parents] + _minimum_image(d, box)
    return out


def iter_bead_frames(
    mapping: BeadMapping,
    traj_or_path: Any,
    *,
    top: Any = None,
    box: Any = None,
    chunk: int = 1000,
    stride: int = 1,
    make_whole: bool = True,
) -> Iterator[np.ndarray]:
    """Yield bead frames ``[t, B, 3]`` (float64, nm) chunk by chunk (streaming).

    Args:
        traj_or_path: ``mdtraj.Trajectory``, positions ``[T, n, 3]`` nm (numpy or Quantity), or
            a trajectory file (DCD, XTC, TRR, NetCDF, HDF5, ... anything ``mdtraj.iterload``
            reads). ``n`` is either ``mapping.num_atoms`` (the cleaned, mapped atoms) or
            ``mapping.source_num_atoms`` (every atom of the input, e.g. with solvent).
        top: topology for files without one (PDB path, ``mdtraj.Topology`` or
            ``openmm.app.Topology``); default: the mapping's topology, or a bare one when the
            file holds all input atoms.
        box: box vectors ``[3, 3]`` or ``[T, 3, 3]`` nm for array input (files and mdtraj
            trajectories carry their own).
        chunk: frames per chunk (memory ~ ``chunk * n * 3 * 4`` bytes).
        stride: use every ``stride``-th frame.
        make_whole: make molecules whole across periodic boundaries first (when there is a box).
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
        except (OSError, TypeError, KeyError) as exc:
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
    if box is not None:
        box = _as_nm_array(box)
        if box.ndim == 3:
            box = box[::stride]
    w = _selection_matrix(mapping, xyz.shape[1])
    for s in range(0, xyz.shape[0], chunk):
        piece = xyz[s:s + chunk]
        if make_whole and box is not None:
            piece = unwrap_molecules(mapping, piece, box if box.ndim == 2 else box[s:s + chunk])
        yield _apply(w, piece)


def _file_num_atoms(path: Path) -> int | None:
    import mdtraj

    try:
        with mdtraj.open(str(path)) as fh:
            first = fh.read(n_frames=1)
    except Exception:  # noqa: BLE001 - unknown format: let iterload report it
        return None
    xyz = first[0] if isinstance(first, tuple) else first
    xyz = np.asarray(xyz)
    return int(xyz.shape[1]) if xyz.ndim == 3 else None


def _mdtraj_topology(mapping: BeadMapping, top: Any, path: Path) -> Any:
    import mdtraj
    import openmm.app as app

    if top is not None:
        if isinstance(top, app.Topology):
            return mdtraj.Topology.from_openmm(top)
        if isinstance(top, (str, os.PathLike)):
            if not Path(top).is_file():
                raise FileNotFoundError(f"topology file {top} does not exist")
            return mdtraj.load_topology(str(top))
        return top
    if path.suffix.lower() in (".h5", ".pdb", ".gro", ".lh5", ".pdb.gz"):
        return None  # the file carries its own topology
    n = _file_num_atoms(path)
    if n is None or n == mapping.num_atoms:
        return mdtraj.Topology.from_openmm(mapping.atom_topology)
    if n == mapping.source_num_atoms:
        bare = mdtraj.Topology()
        chain = bare.add_chain()
        res = bare.add_residue("UNK", chain)
        for _ in range(n):
            bare.add_atom("X", mdtraj.element.virtual, res)
        return bare
    raise ValueError(
        f"{path}: the trajectory has {n} atoms; the mapping has {mapping.num_atoms} mapped and "
        f"{mapping.source_num_atoms} input atoms (pass top= for its topology)"
    )


def _map_md(mapping: BeadMapping, traj: Any, whole: bool) -> np.ndarray:
    w = _selection_matrix(mapping, traj.n_atoms)
    xyz = traj.xyz
    if whole and traj.unitcell_vectors is not None:
        xyz = unwrap_molecules(mapping, xyz, traj.unitcell_vectors)
    return _apply(w, xyz)


def map_trajectory(
    mapping: BeadMapping,
    traj_or_path: Any,
    *,
    top: Any = None,
    box: Any = None,
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
        mapping, traj_or_path, top=top, box=box, chunk=chunk, stride=stride,
        make_whole=make_whole,
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
