"""Graph partition on many random molecules; vocabularies; custom scheme on cleaned input."""

from __future__ import annotations

import numpy as np
import pytest
from mapping_helpers import make_polymer

import openmm_cgml
from openmm_cgml.mapping import features
from openmm_cgml.mapping.schemes import disconnected_clusters, graph_partition


def _random_molecules(rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """A few random trees with extra ring bonds and some isolated atoms."""
    edges = []
    start = 0
    for _ in range(rng.integers(1, 5)):
        m = int(rng.integers(1, 60))
        for v in range(1, m):
            edges.append((start + int(rng.integers(0, v)), start + v))
        for _ in range(int(rng.integers(0, 4))):  # ring closures
            a, b = rng.integers(0, m, size=2)
            if a != b:
                edges.append((start + int(min(a, b)), start + int(max(a, b))))
        start += m
    n = start + int(rng.integers(0, 3))
    perm = rng.permutation(n)  # atoms of a molecule need not be contiguous
    e = perm[np.array(edges, dtype=np.int64).reshape(-1, 2)] if edges else \
        np.zeros((0, 2), dtype=np.int64)
    return n, e


@pytest.mark.parametrize("method", ["auto", "metis", "grow"])
def test_random_molecules_connected_balanced_deterministic(method):
    rng = np.random.default_rng(123)
    for _ in range(25):
        n, bonds = _random_molecules(rng)
        apb = float(rng.choice([1, 2, 3, 5, 8]))
        labels = graph_partition(n, bonds, apb, method=method)
        assert labels.shape == (n,) and labels.min() == 0
        assert set(np.unique(labels)) == set(range(labels.max() + 1))
        # numbered by lowest atom
        first = [np.flatnonzero(labels == b)[0] for b in range(labels.max() + 1)]
        assert first == sorted(first)
        assert disconnected_clusters(labels, bonds) == []
        # never across molecules: every cluster lies in one connected component
        from scipy.sparse.csgraph import connected_components

        from openmm_cgml.mapping.schemes import adjacency_matrix

        _, comp = connected_components(adjacency_matrix(n, bonds), directed=False)
        for b in range(labels.max() + 1):
            assert len(np.unique(comp[labels == b])) == 1
        # roughly the requested number of clusters per molecule
        for c in np.unique(comp):
            size = int(np.sum(comp == c))
            k = len(np.unique(labels[comp == c]))
            assert k <= max(1, round(size / apb)) * 1.6 + 1
            assert k >= max(1, round(size / apb)) * 0.4 - 1
        np.testing.assert_array_equal(labels, graph_partition(n, bonds, apb, method=method))


def test_partition_rejects_bad_sizes():
    with pytest.raises(ValueError, match="atoms_per_bead"):
        graph_partition(4, np.array([[0, 1]]), 0)
    with pytest.raises(ValueError, match="method"):
        graph_partition(4, np.array([[0, 1]]), 2, method="spectral")


def test_vocabularies():
    assert features.RESIDUE_VOCAB[0] == "UNK"
    assert len(set(features.RESIDUE_VOCAB)) == len(features.RESIDUE_VOCAB)
    assert len(set(features.ROLE_VOCAB)) == len(features.ROLE_VOCAB)
    for name in ("ALA", "HIS", "HIE", "HIP", "CYX", "ACE", "NME", "DA", "U", "P1A", "P2B"):
        assert features.residue_index(name) > 0, name
    assert features.residue_index("XYZ") == 0
    assert features.residue_index("NALA") == features.residue_index("ALA")  # Amber N-terminal
    assert features.residue_index("WAT") == features.residue_index("HOH")
    role = features.role_index
    assert features.ROLE_VOCAB[role("ALA", "CA", 6)] == "CA"
    assert features.ROLE_VOCAB[role("ALA", "OXT", 8)] == "O"
    assert features.ROLE_VOCAB[role("ALA", "CB", 6)] == "sidechain"
    assert features.ROLE_VOCAB[role("ALA", "HB1", 1)] == "H"
    assert features.ROLE_VOCAB[role("P1A", "S2", 0)] == "S2"
    assert features.ROLE_VOCAB[role("DA", "P", 15)] == "na_backbone"
    assert features.ROLE_VOCAB[role("DA", "C1'", 6)] == "na_sugar"
    assert features.ROLE_VOCAB[role("DA", "N9", 7)] == "na_base"
    assert features.ROLE_VOCAB[role("LIG", "C1", 6)] == "other"
    assert features.BOND_TYPES.index("polymer_backbone") == 4


def test_top_level_exports():
    top, pos, masses = make_polymer(6)
    m = openmm_cgml.coarse_grain((top, pos), scheme="residue", masses=masses)
    assert isinstance(m, openmm_cgml.BeadMapping)
    np.testing.assert_allclose(
        openmm_cgml.map_trajectory(m, pos[None]), m.bead_positions(pos)[None], atol=1e-6
    )


def test_custom_scheme_indices_of_input_atoms(villin_path):
    """atom_to_bead given for every input atom (with water): water beads vanish, rest kept."""
    import openmm.app as app

    top = app.PDBFile(str(villin_path)).topology
    a2b = np.array([a.residue.index for a in top.atoms()])  # one bead per residue, all 8867
    m = openmm_cgml.coarse_grain(str(villin_path), scheme="custom", atom_to_bead=a2b)
    assert m.num_beads == 35
    ref = openmm_cgml.coarse_grain(str(villin_path))
    np.testing.assert_array_equal(m.atom_to_bead, ref.atom_to_bead)
