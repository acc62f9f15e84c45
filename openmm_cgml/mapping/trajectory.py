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


class _Plan:
    """What mapping a trajectory of ``n_traj_atoms`` atoms needs, computed once per mapping.

    - ``sel``: int64[m] trajectory atoms that belong to some bead, sorted by bead;
    - ``starts``: int64[B] first position of each bead in ``sel``; ``weights``: sparse
      [B, m] matrix of mass fractions (rows sum to 1): bead positions = ``weights @ x[sel]``
      with the frames laid out atom-major ``[m, T*3]`` (one sparse product per chunk);
    - ``atom_levels``: spanning-tree edges inside each bead, ``(parents, children)`` grouped
      by depth (positions in ``sel``), rooted at the bead's lowest atom;
    - ``bead_levels``: spanning-tree edges of the CG bond graph of each molecule, grouped by
      depth (bead indices).

    Periodic unwrapping then costs (depth inside a bead) + (depth of the bead tree) vectorised
    steps per chunk instead of one step per atom. Atoms added by cleaning are absent from a
    trajectory of the input's atoms; they are left out and their beads' weights renormalised.
    """

    def __init__(self, mapping: BeadMapping, n_traj_atoms: int) -> None:
        if n_traj_atoms == mapping.num_atoms:
            present = np.ones(mapping.num_atoms, dtype=bool)
            traj_index = np.arange(mapping.num_atoms)
        elif n_traj_atoms == mapping.source_num_atoms:
            traj_index = mapping.source_atoms
            present = traj_index >= 0
            if not np.all(present):
                log.warning(
                    "map_trajectory: %d atoms added by cleaning are absent from the trajectory; "
                    "their beads use the remaining atoms", int((~present).sum()),
                )
        else:
            raise ValueError(
                f"map_trajectory: trajectory has {n_traj_atoms} atoms; the mapping has "
                f"{mapping.num_atoms} (mapped) and {mapping.source_num_atoms} (input) atoms"
            )
        atoms = np.flatnonzero(present)  # mapped-atom indices used
        atoms = atoms[np.argsort(mapping.atom_to_bead[atoms], kind="stable")]  # bead-major
        masses = mapping.atom_masses[atoms]
        beads = mapping.atom_to_bead[atoms]
        nb = mapping.num_beads
        totals = np.bincount(beads, weights=masses, minlength=nb)
        if np.any(totals == 0):
            raise ValueError(
                "map_trajectory: some beads consist only of atoms added by cleaning, which the "
                "trajectory does not have; map a trajectory of the cleaned structure instead"
            )
        m = len(atoms)
        self.num_beads = nb
        self.sel = traj_index[atoms].astype(np.int64)
        self.starts = np.searchsorted(beads, np.arange(nb)).astype(np.int64)
        self.weights = sp.csr_matrix(
            (masses / totals[beads], (beads, np.arange(m))), shape=(nb, m)
        )
        local = np.full(mapping.num_atoms, -1, dtype=np.int64)
        local[atoms] = np.arange(m)
        b = mapping.atom_bonds
        if len(b):
            b = local[b[present[b[:, 0]] & present[b[:, 1]]]]
        inside = beads[b[:, 0]] == beads[b[:, 1]] if len(b) else np.zeros(0, dtype=bool)
        # atoms: one tree per bead, rooted at its first atom (pieces of a bead that are not
        # bond-connected hang directly from that root)
        anchors = self.starts
        self.atom_levels = _forest_levels(m, b[inside], anchors, beads)
        # beads: one tree per molecule over the CG bonds
        cg = _cg_pairs(beads, b[~inside])
        self.bead_levels = _forest_levels(nb, cg, None, None)


def _cg_pairs(beads: np.ndarray, cross: np.ndarray) -> np.ndarray:
    if len(cross) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.stack([beads[cross[:, 0]], beads[cross[:, 1]]], axis=1), axis=1)
    return np.unique(pairs, axis=0)


def _forest_levels(
    n: int, edges: np.ndarray, anchors: np.ndarray | None, groups: np.ndarray | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Breadth-first spanning forest of a graph, edges grouped by depth.

    With ``anchors`` (one node per group of ``groups``), each group is one tree rooted at its
    anchor; nodes not bonded to it within the group hang from the anchor directly. Without,
    each connected component is a tree rooted at its lowest node. A virtual super-root joined
    to every root lets one breadth-first search build the whole forest.
    """
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    from openmm_cgml.mapping.schemes import adjacency_matrix

    if n <= 1:
        return []
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if anchors is None:
        _, comp = connected_components(adjacency_matrix(n, edges), directed=False)
        roots = np.unique(comp, return_index=True)[1]
        extra = np.zeros((0, 2), dtype=np.int64)
    else:
        roots = np.asarray(anchors, dtype=np.int64)
        # join every other piece of a group to its anchor
        _, comp = connected_components(adjacency_matrix(n, edges), directed=False)
        piece_roots = np.unique(comp, return_index=True)[1]
        loose = piece_roots[~np.isin(piece_roots, roots)]
        # the anchor of a loose piece's group may sit in another piece: link piece -> anchor
        extra = np.stack([roots[groups[loose]], loose], axis=1) if len(loose) else \
            np.zeros((0, 2), dtype=np.int64)
    top = n  # the super-root
    all_edges = np.concatenate([edges, extra, np.stack([np.full(len(roots), top), roots], 1)])
    adj = adjacency_matrix(n + 1, all_edges)
    order, pred = breadth_first_order(adj, top, directed=False, return_predecessors=True)
    depth = np.zeros(n + 1, dtype=np.int64)
    for v in order[1:]:
        depth[v] = depth[pred[v]] + 1
    parent = pred
    levels = []
    for d in range(2, int(depth.max()) + 1):
        child = np.flatnonzero(depth == d)
        levels.append((parent[child].astype(np.int64), child))
    return levels


def _plan(mapping: BeadMapping, n_traj_atoms: int) -> _Plan:
    cache = mapping.__dict__.setdefault("_trajectory_plans", {})
    if n_traj_atoms not in cache:
        cache[n_traj_atoms] = _Plan(mapping, n_traj_atoms)
    return cache[n_traj_atoms]


def _atom_major(xyz: np.ndarray, sel: np.ndarray | None) -> np.ndarray:
    """``[m, T, 3]`` copy of atoms ``sel`` of frames ``xyz`` ``[T, n, 3]`` (same dtype).

    Gathers and transposes xyz triplets as single 12/24-byte items (several times faster
    than fancy indexing of the float axis).
    """
    x = np.ascontiguousarray(xyz)
    t, n, _ = x.shape
    triplets = x.view(np.dtype((np.void, 3 * x.dtype.itemsize))).reshape(t, n)
    if sel is not None:
        triplets = np.take(triplets, sel, axis=1)
    out = np.ascontiguousarray(triplets.T)  # [m, T]
    return out.view(x.dtype).reshape(out.shape[0], t, 3)


def _unwrap(x: np.ndarray, levels: list, box: np.ndarray) -> None:
    """In place on ``x`` [k, T, 3] (row-major by atom/bead): children moved to the periodic
    image nearest their parents. ``box`` [T, 3, 3]: rows a, b, c in OpenMM's reduced
    triclinic form (a along x, b in the xy plane)."""
    box = box.astype(x.dtype, copy=False)
    lengths = np.diagonal(box, axis1=1, axis2=2)[None]  # [1, T, 3]
    ortho = not np.any(box[:, [0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]])
    for parents, children in levels:
        d = x[children] - x[parents]  # [c, T, 3]
        if ortho:
            d -= lengths * np.round(d / lengths)
        else:
            for k in (2, 1, 0):
                shift = np.round(d[..., k] / lengths[..., k])  # [c, T]
                d -= shift[..., None] * box[None, :, k, :]
        x[children] = x[parents] + d


def _map_chunk(
    plan: _Plan, xyz: np.ndarray, box: np.ndarray | None, gathered: bool = False
) -> np.ndarray:
    """[T, n_traj, 3] (+ boxes [3, 3]/[T, 3, 3] nm or None) -> bead positions [T, B, 3].

    With ``gathered=True``, ``xyz`` already holds only the atoms ``plan.sel``, in that order.
    """
    t = xyz.shape[0]
    # [m, T, 3]; float32 input (every trajectory format) stays float32 until the product:
    # unwrapping differences of float32 coordinates in float32 is exact to ~1e-6 nm
    x = _atom_major(np.asarray(xyz), None if gathered else plan.sel)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    unwrap = False
    if box is not None:
        box = np.asarray(box, dtype=np.float64)
        if box.ndim == 2:
            box = np.broadcast_to(box, (t, 3, 3))
        if box.shape != (t, 3, 3):
            raise ValueError(f"box must be [3, 3] or [T, 3, 3] nm, got {box.shape}")
        unwrap = bool(np.all(np.diagonal(box, axis1=1, axis2=2) > 0))
    if unwrap:
        _unwrap(x, plan.atom_levels, box)  # every bead whole
    # the sparse product, accumulated in float64
    beads = np.asarray(plan.weights @ x.reshape(x.shape[0], t * 3).astype(np.float64))
    beads = beads.reshape(-1, t, 3)  # [B, T, 3]
    if unwrap:
        _unwrap(beads, plan.bead_levels, box)  # every molecule whole
    return _atom_major(beads, None)  # [B, T, 3] -> [T, B, 3] (same transposition)


def unwrap_molecules(mapping: BeadMapping, xyz: np.ndarray, box: Any) -> np.ndarray:
    """Bead positions ``[T, B, 3]`` of ``xyz`` ``[T, n, 3]`` nm with molecules made whole.

    Same as :func:`map_trajectory` on an array with ``box`` ([3, 3] or [T, 3, 3] nm).
    """
    return _map_chunk(_plan(mapping, xyz.shape[1]), np.asarray(xyz), box)


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
        n_atoms = (md_top if md_top is not None else mdtraj.load_topology(str(path))).n_atoms
        plan = _plan(mapping, n_atoms)
        # read only the mapped atoms when they are a small part of the file (mdtraj then
        # also subsets its topology per chunk, which costs more than it saves otherwise)
        wanted = np.unique(plan.sel)
        subset = len(wanted) < 0.5 * n_atoms
        perm = np.searchsorted(wanted, plan.sel) if subset else None
        try:
            iterator = mdtraj.iterload(str(path), top=md_top, chunk=chunk, stride=stride,
                                       atom_indices=wanted if subset else None)
            for piece in iterator:
                box = _box_vectors(piece) if make_whole else None
                if subset:
                    yield _map_chunk(plan, np.take(piece.xyz, perm, axis=1), box, gathered=True)
                else:
                    yield _map_chunk(plan, piece.xyz, box)
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
    plan = _plan(mapping, xyz.shape[1])
    for s in range(0, xyz.shape[0], chunk):
        piece_box = None
        if make_whole and box is not None:
            piece_box = box if box.ndim == 2 else box[s:s + chunk]
        yield _map_chunk(plan, xyz[s:s + chunk], piece_box)


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


def _box_vectors(traj: Any) -> np.ndarray | None:
    """Box vectors [T, 3, 3] nm (rows a, b, c) of an mdtraj trajectory, vectorised.

    (mdtraj's own ``unitcell_vectors`` loops over frames in Python.)
    """
    lengths, angles = traj.unitcell_lengths, traj.unitcell_angles
    if lengths is None or angles is None:
        return None
    lengths = np.asarray(lengths, dtype=np.float64)
    al, be, ga = np.deg2rad(np.asarray(angles, dtype=np.float64)).T
    t = lengths.shape[0]
    box = np.zeros((t, 3, 3))
    box[:, 0, 0] = lengths[:, 0]
    box[:, 1, 0] = lengths[:, 1] * np.cos(ga)
    box[:, 1, 1] = lengths[:, 1] * np.sin(ga)
    cx = np.cos(be)
    cy = (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    box[:, 2, 0] = lengths[:, 2] * cx
    box[:, 2, 1] = lengths[:, 2] * cy
    box[:, 2, 2] = lengths[:, 2] * np.sqrt(np.maximum(1.0 - cx**2 - cy**2, 0.0))
    box[np.abs(box) < 1e-6 * lengths.max(initial=1.0)] = 0.0
    return box


def _map_md(mapping: BeadMapping, traj: Any, whole: bool) -> np.ndarray:
    box = _box_vectors(traj) if whole else None
    return _map_chunk(_plan(mapping, traj.n_atoms), traj.xyz, box)


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
