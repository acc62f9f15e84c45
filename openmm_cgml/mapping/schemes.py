"""Mapping schemes: which atoms form each bead.

Every scheme returns ``atom_to_bead`` (int64[n]) with beads numbered by their lowest atom
index (so bead order follows chain/residue order), plus a particle name and a type name for
every bead.

- :func:`residue_scheme`: one bead per residue (or backbone + side chain); residues that are
  not polymer residues (ligands, other molecules) are split with :func:`graph_partition`.
- :func:`graph_partition`: balanced, connected partition of the bonded atom graph
  (METIS through pymetis when available, a deterministic region-growing fallback otherwise),
  with connectivity checked and repaired.
- :func:`custom_scheme`: a user-given atom -> bead array, validated.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import openmm.app as app
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from openmm_cgml.mapping import features

log = logging.getLogger(__name__)

SCHEMES = ("residue", "residue_sidechain", "graph", "custom")


@dataclass
class SchemeResult:
    """``atom_to_bead`` int64[n] plus one particle name and one type name per bead."""

    atom_to_bead: np.ndarray
    bead_atom_names: list[str]
    bead_type_names: list[str]  # per bead (not unique)
    notes: list[str]


# ---------------------------------------------------------------------------------------
# helpers
def relabel_by_first_atom(labels: np.ndarray) -> np.ndarray:
    """Renumber cluster labels 0..B-1 in order of each cluster's lowest atom index."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return labels
    uniq, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    return rank[inverse.reshape(-1)]


def adjacency_matrix(num_atoms: int, bonds: np.ndarray) -> sp.csr_matrix:
    """Symmetric boolean CSR adjacency of the bonded graph."""
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    if len(bonds):
        rows = np.concatenate([bonds[:, 0], bonds[:, 1]])
        cols = np.concatenate([bonds[:, 1], bonds[:, 0]])
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
    adj = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(num_atoms, num_atoms)
    )
    adj.sum_duplicates()
    adj.sort_indices()
    return adj


def disconnected_clusters(atom_to_bead: np.ndarray, bonds: np.ndarray) -> list[int]:
    """Beads whose atoms are not all joined through bonds inside the bead (should be empty)."""
    atom_to_bead = np.asarray(atom_to_bead, dtype=np.int64)
    n = len(atom_to_bead)
    bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    inside = atom_to_bead[bonds[:, 0]] == atom_to_bead[bonds[:, 1]] if len(bonds) else []
    adj = adjacency_matrix(n, bonds[inside] if len(bonds) else bonds)
    _, comp = connected_components(adj, directed=False)
    bad = []
    for b in np.unique(atom_to_bead):
        if len(np.unique(comp[atom_to_bead == b])) > 1:
            bad.append(int(b))
    return bad


def _bead_type_name(members: np.ndarray, atoms: Sequence[app.topology.Atom]) -> str:
    """A readable type for an arbitrary atom cluster."""
    residues = {atoms[i].residue.index for i in members}
    if len(members) <= 4:
        return "+".join(
            f"{features.canonical_residue_name(atoms[i].residue.name)}:{atoms[i].name}"
            for i in members
        )
    counts = Counter(
        atoms[i].element.symbol if atoms[i].element is not None else atoms[i].name
        for i in members
    )
    # Hill order: C, H, then alphabetical
    keys = sorted(counts, key=lambda s: (s != "C", s != "H", s))
    formula = "".join(f"{k}{counts[k] if counts[k] > 1 else ''}" for k in keys)
    if len(residues) == 1:
        return f"{features.canonical_residue_name(atoms[members[0]].residue.name)}:{formula}"
    return formula


def _names_for_beads(
    atom_to_bead: np.ndarray, atoms: Sequence[app.topology.Atom], prefix: str = "C"
) -> list[str]:
    """Particle names ``C1``, ``C2``... numbered within the residue of each bead's first atom.

    Names starting with C make PDB readers (mdtraj, VMD, PyMOL) guess carbon for the beads.
    """
    num_beads = int(atom_to_bead.max()) + 1
    first = np.full(num_beads, len(atom_to_bead), dtype=np.int64)
    np.minimum.at(first, atom_to_bead, np.arange(len(atom_to_bead)))
    per_res: Counter[int] = Counter()
    names = []
    for b in range(num_beads):
        res = atoms[int(first[b])].residue.index
        per_res[res] += 1
        names.append(f"{prefix}{per_res[res] % 1000}")
    return names


# ---------------------------------------------------------------------------------------
# graph partition
def _grow_partition(sub: sp.csr_matrix, nparts: int) -> np.ndarray:
    """Deterministic region growing on one connected graph (the fallback to METIS).

    Starts at the lowest-index atom of minimal degree; each next cluster is seeded at the
    frontier of the grown region (the unassigned atom with the fewest unassigned neighbours,
    lowest index on ties) and takes unassigned atoms breadth-first until it holds its share
    of the remaining atoms. Clusters are connected by construction.
    """
    n = sub.shape[0]
    indptr, indices = sub.indptr, sub.indices
    labels = np.full(n, -1, dtype=np.int64)
    free_deg = np.diff(indptr).astype(np.int64)
    frontier = np.zeros(n, dtype=bool)
    remaining = n
    part = 0
    big = np.iinfo(np.int64).max // 4

    def take(v: int) -> None:
        labels[v] = part
        frontier[v] = False
        for w in indices[indptr[v]:indptr[v + 1]]:
            free_deg[w] -= 1
            if labels[w] < 0:
                frontier[w] = True

    cap = n / nparts
    while remaining > 0:
        target = max(1, int(round(min(remaining / max(1, nparts - part), cap))))
        key = np.where(labels < 0, free_deg, big)
        if frontier.any():
            key = np.where(frontier, key, big)
        seed = int(np.argmin(key))
        queue = deque([seed])
        take(seed)
        size = 1
        while queue and size < target:
            u = queue.popleft()
            for v in indices[indptr[u]:indptr[u + 1]]:
                if labels[v] < 0 and size < target:
                    take(int(v))
                    size += 1
                    queue.append(int(v))
        # take along neighbours that would be left with no free neighbour (e.g. hydrogens)
        members = np.flatnonzero(labels == part)
        for u in members:
            for v in indices[indptr[u]:indptr[u + 1]]:
                if labels[v] < 0 and free_deg[v] == 0:
                    take(int(v))
                    size += 1
        remaining -= size
        part += 1
    return labels


def _metis_partition(sub: sp.csr_matrix, nparts: int, seed: int) -> np.ndarray:
    import pymetis

    opts = pymetis.Options(seed=seed, contig=1)
    adjacency = pymetis.CSRAdjacency(
        sub.indptr.astype(np.int64), sub.indices.astype(np.int64)
    )
    _, parts = pymetis.part_graph(nparts, adjacency=adjacency, options=opts)
    return np.asarray(parts, dtype=np.int64)


def _split_components(sub: sp.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """Relabel so that every cluster is one bonded piece (pieces become clusters)."""
    n = len(labels)
    coo = sub.tocoo()
    same = labels[coo.row] == labels[coo.col]
    inner = sp.csr_matrix(
        (np.ones(int(same.sum()), dtype=np.int8), (coo.row[same], coo.col[same])), shape=(n, n)
    )
    _, pieces = connected_components(inner, directed=False)
    return relabel_by_first_atom(pieces)


def _merge_small(sub: sp.csr_matrix, labels: np.ndarray, min_size: int) -> np.ndarray:
    """Merge clusters smaller than ``min_size`` into their smallest bonded neighbour."""
    labels = labels.copy()
    while True:
        sizes = np.bincount(labels)
        merged = False
        for c in np.argsort(sizes, kind="stable"):
            if sizes[c] >= min_size:
                break
            members = np.flatnonzero(labels == c)
            neigh = {int(labels[v]) for u in members
                     for v in sub.indices[sub.indptr[u]:sub.indptr[u + 1]] if labels[v] != c}
            if not neigh:
                continue
            target = min(neigh, key=lambda k: (sizes[k], k))
            labels[members] = target
            merged = True
            break
        if not merged:
            return relabel_by_first_atom(labels)
        labels = relabel_by_first_atom(labels)


def _split_large(sub: sp.csr_matrix, labels: np.ndarray, atoms_per_bead: float) -> np.ndarray:
    """Split clusters of >= 1.5 x ``atoms_per_bead`` atoms by region growing."""
    labels = labels.copy()
    sizes = np.bincount(labels)
    next_label = len(sizes)
    for c in np.flatnonzero(sizes >= 1.5 * atoms_per_bead):
        k = int(round(sizes[c] / atoms_per_bead))
        if k < 2:
            continue
        members = np.flatnonzero(labels == c)
        local = _grow_partition(sub[members][:, members].tocsr(), k)
        labels[members[local > 0]] = next_label + local[local > 0] - 1
        next_label += int(local.max())
    return relabel_by_first_atom(labels)


def _repair(sub: sp.csr_matrix, labels: np.ndarray, atoms_per_bead: float) -> np.ndarray:
    min_size = max(1, int(np.floor(atoms_per_bead / 2.0)))
    labels = _split_components(sub, np.asarray(labels, dtype=np.int64))
    labels = _split_large(sub, labels, atoms_per_bead)
    labels = _split_components(sub, labels)
    return _merge_small(sub, labels, min_size)


def _partition_score(sub: sp.csr_matrix, labels: np.ndarray, atoms_per_bead: float) -> float:
    """Lower is better: squared deviation of cluster sizes from the target, plus cut bonds."""
    sizes = np.bincount(labels)
    coo = sub.tocoo()
    cut = int(np.sum(labels[coo.row] != labels[coo.col])) // 2
    return float(np.sum((sizes - atoms_per_bead) ** 2)) + 0.1 * cut


def graph_partition(
    num_atoms: int,
    bonds: np.ndarray,
    atoms_per_bead: float,
    *,
    seed: int = 0,
    method: str = "auto",
) -> np.ndarray:
    """Balanced partition of the bonded graph into connected clusters of ~``atoms_per_bead``.

    Each connected component (molecule) with ``m`` atoms is cut into about
    ``max(1, round(m / atoms_per_bead))`` clusters. Candidates: METIS (pymetis, ``contig=1``,
    fixed ``seed``) and a deterministic region growing; each is repaired (clusters split into
    their bonded pieces, clusters >= 1.5 x target split, clusters < target / 2 merged into a
    bonded neighbour), and the candidate with the most even sizes (fewest cut bonds on ties)
    is kept. ``method="metis"`` or ``"grow"`` uses one candidate only.

    Args:
        num_atoms: number of atoms ``n``.
        bonds: int[n_bonds, 2] atom index pairs.
        atoms_per_bead: target cluster size (> 0).
        seed: METIS seed (same input + seed -> same partition).
        method: ``"auto"``, ``"metis"`` or ``"grow"``.

    Returns:
        int64[n] cluster index per atom, clusters numbered by lowest atom index; every
        cluster is bond-connected.
    """
    if not atoms_per_bead or atoms_per_bead <= 0:
        raise ValueError(f"atoms_per_bead must be a positive number, got {atoms_per_bead!r}")
    if method not in ("auto", "metis", "grow"):
        raise ValueError(f"graph partition method must be auto, metis or grow, not {method!r}")
    have_metis = True
    try:
        import pymetis  # noqa: F401
    except ImportError:  # pragma: no cover - pymetis is a dependency
        have_metis = False
        if method == "metis":
            raise ValueError("method='metis' needs pymetis (pip install pymetis)") from None
    adj = adjacency_matrix(num_atoms, bonds)
    ncomp, comp = connected_components(adj, directed=False)
    labels = np.full(num_atoms, -1, dtype=np.int64)
    next_label = 0
    # order atoms by molecule (ascending index inside each): molecule c is then the
    # contiguous diagonal block bounds[c]:bounds[c+1] of the permuted adjacency
    order = np.lexsort((np.arange(num_atoms), comp))
    bounds = np.searchsorted(comp[order], np.arange(ncomp + 1))
    adj_sorted = adj[order][:, order].tocsr()
    cache: dict[tuple[int, bytes], np.ndarray] = {}  # identical molecules, same partition
    for c in range(ncomp):
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        nodes = order[lo:hi]
        m = hi - lo
        nparts = max(1, int(round(m / atoms_per_bead)))
        if nparts == 1:
            local = np.zeros(m, dtype=np.int64)
        elif nparts >= m:
            local = np.arange(m, dtype=np.int64)
        else:
            sub = adj_sorted[lo:hi, lo:hi].tocsr()
            sub.sort_indices()
            key = (m, sub.indptr.tobytes() + sub.indices.tobytes())
            local = cache.get(key)
            if local is None:
                candidates = []
                if method in ("auto", "metis") and have_metis:
                    try:
                        candidates.append(_repair(sub, _metis_partition(sub, nparts, seed),
                                                  atoms_per_bead))
                    except Exception as exc:  # METIS can refuse odd graphs
                        log.warning("METIS failed on a %d-atom molecule (%s)", m, exc)
                if method in ("auto", "grow") or not candidates:
                    candidates.append(_repair(sub, _grow_partition(sub, nparts),
                                              atoms_per_bead))
                local = min(candidates,
                            key=lambda lab: _partition_score(sub, lab, atoms_per_bead))
                local = relabel_by_first_atom(local)
                cache[key] = local
        labels[nodes] = local + next_label
        next_label += int(local.max()) + 1
    return relabel_by_first_atom(labels)


# ---------------------------------------------------------------------------------------
# schemes
def _residue_kind(res: app.topology.Residue) -> str:
    name = res.name
    if features.is_polymer_residue(name):
        return "polymer"
    if features.is_protein_residue(name):
        return "protein"
    if features.is_nucleic_residue(name):
        return "nucleic"
    if features.is_water(name):
        return "water"
    if features.is_ion(name, len(res._atoms)):
        return "ion"
    return "other"


def residue_scheme(
    topology: app.Topology,
    bonds: np.ndarray,
    roles: np.ndarray,
    *,
    sidechain: bool = False,
    other_atoms_per_bead: float = 10.0,
    seed: int = 0,
) -> SchemeResult:
    """One bead per residue (protein, nucleic, polymer monomer, water, ion).

    With ``sidechain=True`` a residue gets a backbone bead (N, CA, C, O, polymer B*, nucleic
    sugar-phosphate, and hydrogens bonded to them) and, if it has any other atoms, a side-chain
    bead. Atoms of other residues (ligands, unknown molecules) are split by
    :func:`graph_partition` into clusters of ~``other_atoms_per_bead`` atoms.
    """
    atoms = list(topology.atoms())
    n = len(atoms)
    labels = np.full(n, -1, dtype=np.int64)
    bead_kind: dict[int, str] = {}  # label -> "whole" | "BB" | "SC"
    notes: list[str] = []
    partner = np.full(n, -1, dtype=np.int64)  # heavy partner of each hydrogen
    for i, j in np.asarray(bonds, dtype=np.int64).reshape(-1, 2):
        ei = atoms[i].element.atomic_number if atoms[i].element is not None else 0
        ej = atoms[j].element.atomic_number if atoms[j].element is not None else 0
        if ei == 1 and ej != 1:
            partner[i] = j
        if ej == 1 and ei != 1:
            partner[j] = i
    backbone = np.fromiter((r in features.BACKBONE_ROLES for r in roles), dtype=bool, count=n)
    h_role = features.ROLE_VOCAB.index("H")
    backbone |= (np.asarray(roles) == h_role) & (partner >= 0) & backbone[np.maximum(partner, 0)]
    label = 0
    other: list[int] = []
    for res in topology.residues():
        idx = np.array([a.index for a in res.atoms()], dtype=np.int64)
        if len(idx) == 0:
            continue
        kind = _residue_kind(res)
        if kind == "other":
            other.extend(idx.tolist())
            continue
        if sidechain and kind in ("protein", "nucleic", "polymer"):
            bb = idx[backbone[idx]]
            sc = idx[~backbone[idx]]
            if len(bb) == 0 or len(sc) == 0:
                labels[idx] = label
                bead_kind[label] = "BB" if len(bb) else "SC"
                label += 1
            else:
                labels[bb] = label
                bead_kind[label] = "BB"
                labels[sc] = label + 1
                bead_kind[label + 1] = "SC"
                label += 2
        else:
            labels[idx] = label
            bead_kind[label] = "whole"
            label += 1
    if other:
        other_idx = np.array(sorted(other), dtype=np.int64)
        local = np.full(n, -1, dtype=np.int64)
        local[other_idx] = np.arange(len(other_idx))
        bb = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        bb = local[bb[(local[bb[:, 0]] >= 0) & (local[bb[:, 1]] >= 0)]] if len(bb) else bb
        part = graph_partition(len(other_idx), bb, other_atoms_per_bead, seed=seed)
        labels[other_idx] = part + label
        for p in np.unique(part):
            bead_kind[int(p) + label] = "graph"
        names = sorted({atoms[int(i)].residue.name for i in other_idx})
        notes.append(
            f"{len(other_idx)} atoms of non-polymer residues ({', '.join(names[:10])}) split by "
            f"the graph scheme into {len(np.unique(part))} beads of ~{other_atoms_per_bead:g} atoms"
        )
    # relabel by first atom, carrying the kinds
    new = relabel_by_first_atom(labels)
    old_of_new = np.zeros(int(new.max()) + 1, dtype=np.int64)
    old_of_new[new] = labels
    atom_names: list[str] = []
    type_names: list[str] = []
    first = np.full(len(old_of_new), n, dtype=np.int64)
    np.minimum.at(first, new, np.arange(n))
    graph_names = _names_for_beads(new, atoms, prefix="C")
    for b in range(len(old_of_new)):
        kind = bead_kind[int(old_of_new[b])]
        atom = atoms[int(first[b])]
        resname = features.canonical_residue_name(atom.residue.name)
        rkind = _residue_kind(atom.residue)
        if kind == "whole":
            atom_names.append({"protein": "CA", "nucleic": "P"}.get(rkind, "CG"))
            type_names.append(resname)
        elif kind in ("BB", "SC"):
            # CA/CB: read as carbon by every PDB reader, and CA traces draw as cartoons
            atom_names.append("CA" if kind == "BB" else "CB")
            type_names.append(f"{resname}:{kind}")
        else:
            atom_names.append(graph_names[b])
            type_names.append(_bead_type_name(np.flatnonzero(new == b), atoms))
    return SchemeResult(new, atom_names, type_names, notes)


def graph_scheme(
    topology: app.Topology,
    bonds: np.ndarray,
    atoms_per_bead: float,
    *,
    seed: int = 0,
    method: str = "auto",
) -> SchemeResult:
    """Balanced connected clusters of the whole bonded graph (see :func:`graph_partition`)."""
    atoms = list(topology.atoms())
    labels = graph_partition(len(atoms), bonds, atoms_per_bead, seed=seed, method=method)
    names = _names_for_beads(labels, atoms, prefix="C")
    types = _cluster_type_names(labels, atoms)
    return SchemeResult(labels, names, types, [])


def _cluster_type_names(labels: np.ndarray, atoms: Sequence[app.topology.Atom]) -> list[str]:
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(int(labels.max()) + 2))
    return [
        _bead_type_name(np.sort(order[bounds[b]:bounds[b + 1]]), atoms)
        for b in range(int(labels.max()) + 1)
    ]


def custom_scheme(
    topology: app.Topology, atom_to_bead: Sequence[int] | np.ndarray, bonds: np.ndarray,
    *, require_connected: bool = False,
) -> SchemeResult:
    """Use a user-given atom -> bead index array (length n, values 0..B-1, every bead used).

    Bead indices are kept as given. Beads whose atoms are not bond-connected are reported
    in the notes (or rejected with ``require_connected=True``).
    """
    atoms = list(topology.atoms())
    arr = np.asarray(atom_to_bead)
    if arr.ndim != 1 or len(arr) != len(atoms):
        raise ValueError(
            f"custom scheme: atom_to_bead must be a 1-D array with one entry per kept atom "
            f"({len(atoms)}), got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError("custom scheme: atom_to_bead must hold integers")
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise ValueError("custom scheme: atom_to_bead has negative bead indices")
    used = np.bincount(arr)
    if np.any(used == 0):
        missing = np.flatnonzero(used == 0)[:5].tolist()
        raise ValueError(
            f"custom scheme: bead indices must be 0..B-1 with every bead used; unused: {missing}"
        )
    notes = []
    bad = disconnected_clusters(arr, bonds)
    if bad:
        msg = f"custom scheme: beads {bad[:10]} hold atoms that are not bond-connected"
        if require_connected:
            raise ValueError(msg)
        notes.append(msg)
    names = _names_for_beads(arr, atoms, prefix="C")
    types = _cluster_type_names(arr, atoms)
    return SchemeResult(arr, names, types, notes)
