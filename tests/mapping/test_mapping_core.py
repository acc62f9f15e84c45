"""Properties of BeadMapping / coarse_grain on villin, peptides, a lipid and a polymer."""

from __future__ import annotations

import numpy as np
import openmm.app as app
import openmm.unit as unit
import pytest
from mapping_helpers import make_polymer

from openmm_cgml.mapping import RESIDUE_VOCAB, ROLE_VOCAB, BeadMapping, coarse_grain
from openmm_cgml.mapping.schemes import disconnected_clusters


def _check_invariants(m: BeadMapping) -> None:
    # every kept atom in exactly one bead, beads numbered 0..B-1
    assert m.atom_to_bead.shape == (m.num_atoms,)
    assert m.atom_to_bead.dtype == np.int64
    assert set(np.unique(m.atom_to_bead)) == set(range(m.num_beads))
    # masses conserve
    assert m.bead_masses.shape == (m.num_beads,)
    np.testing.assert_allclose(m.bead_masses.sum(), m.atom_masses.sum(), rtol=1e-12)
    for b in (0, m.num_beads // 2, m.num_beads - 1):
        np.testing.assert_allclose(m.bead_masses[b], m.atom_masses[m.atom_to_bead == b].sum())
    # bead positions = mass-weighted means (checked by a plain loop)
    x = m.positions
    bp = m.bead_positions(x)
    for b in range(m.num_beads):
        sel = m.atom_to_bead == b
        want = (m.atom_masses[sel, None] * x[sel]).sum(0) / m.atom_masses[sel].sum()
        np.testing.assert_allclose(bp[b], want, atol=1e-12)
    # cg bonds: i < j, sorted, unique, and each joined by a fine bond
    cg = m.cg_bonds
    assert cg.dtype == np.int64 and (cg.shape[0] == 0 or cg.shape[1] == 2)
    assert np.all(cg[:, 0] < cg[:, 1])
    assert len(np.unique(cg, axis=0)) == len(cg)
    assert np.array_equal(cg, cg[np.lexsort((cg[:, 1], cg[:, 0]))])
    fine = {tuple(sorted((m.atom_to_bead[i], m.atom_to_bead[j]))) for i, j in m.atom_bonds}
    assert {tuple(p) for p in cg.tolist()} == {p for p in fine if p[0] != p[1]}
    # fine graph and features
    assert np.all(m.atom_bonds[:, 0] < m.atom_bonds[:, 1])
    assert m.bond_types.shape == (len(m.atom_bonds),)
    for key in ("element", "residue", "role"):
        assert m.atom_features[key].dtype == np.int64
        assert m.atom_features[key].shape == (m.num_atoms,)
    assert m.atom_features["residue"].max() < len(RESIDUE_VOCAB)
    assert m.atom_features["role"].max() < len(ROLE_VOCAB)
    np.testing.assert_array_equal(m.atom_features["mass"], m.atom_masses)
    # bead topology: one particle per bead
    assert m.topology.getNumAtoms() == m.num_beads
    assert m.topology.getNumBonds() == len(cg)
    assert m.bead_types.shape == (m.num_beads,)
    assert m.bead_types.max() < len(m.bead_type_names)


def test_villin_residue_scheme(villin_path):
    m = coarse_grain(villin_path)
    _check_invariants(m)
    assert m.num_beads == 35  # villin headpiece HP35
    assert m.num_atoms == 582
    assert m.source_num_atoms == 8867
    assert m.topology.getNumResidues() == 35
    assert [r.name for r in m.topology.residues()] == [
        r.name for r in m.atom_topology.residues()
    ]
    # waters and ions removed, and said so
    assert any("waters removed" in r and "HOH x2761" in r for r in m.report)
    assert any("ions removed" in r for r in m.report)
    # source_atoms point at the same coordinates in the input file
    pdb = app.PDBFile(str(villin_path))
    xyz = pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    np.testing.assert_allclose(xyz[m.source_atoms], m.positions, atol=1e-9)
    # chain of 35 residue beads: 34 consecutive bonds
    np.testing.assert_array_equal(m.cg_bonds, np.stack([np.arange(34), np.arange(1, 35)], 1))
    assert m.bead_type_names[m.bead_types[0]] == "LEU"


def test_villin_keep_all(villin_path):
    m = coarse_grain(villin_path, keep="all")
    _check_invariants(m)
    assert m.num_atoms == 8867
    assert m.num_beads == 35 + 2761 + 2
    assert not any("removed" in r for r in m.report)


def test_residue_sidechain(villin_path):
    m = coarse_grain(villin_path, scheme="residue_sidechain")
    _check_invariants(m)
    ngly = sum(r.name == "GLY" for r in m.atom_topology.residues())
    assert m.num_beads == 2 * 35 - ngly
    names = [a.name for a in m.topology.atoms()]
    assert names[:2] == ["CA", "CB"]
    # backbone bead holds N, CA, C, O of its residue
    atoms = list(m.atom_topology.atoms())
    bb0 = {atoms[i].name for i in np.flatnonzero(m.atom_to_bead == 0)}
    assert {"N", "CA", "C", "O", "HA"} <= bb0
    assert any(name.startswith("H") and name != "HA" for name in bb0)  # amide H(s)
    assert "CB" not in bb0


@pytest.mark.parametrize("apb", [4, 8, 16])
def test_graph_villin_connected_balanced_deterministic(villin_path, apb):
    m = coarse_grain(villin_path, scheme="graph", atoms_per_bead=apb)
    _check_invariants(m)
    assert disconnected_clusters(m.atom_to_bead, m.atom_bonds) == []
    sizes = m.bead_num_atoms
    assert abs(m.num_beads - round(582 / apb)) <= 0.15 * 582 / apb + 1
    assert sizes.max() <= 2.5 * apb
    assert sizes.min() >= max(1, apb // 2)
    m2 = coarse_grain(villin_path, scheme="graph", atoms_per_bead=apb)
    np.testing.assert_array_equal(m.atom_to_bead, m2.atom_to_bead)


def test_graph_never_joins_unbonded_atoms(data_dir):
    # villin + a POPC lipid 3 nm away: no bead may mix protein and lipid atoms
    m = coarse_grain(data_dir / "villin_ligand.pdb", scheme="graph", atoms_per_bead=10)
    _check_invariants(m)
    assert disconnected_clusters(m.atom_to_bead, m.atom_bonds) == []
    is_lipid = np.array([a.residue.name == "POP" for a in m.atom_topology.atoms()])
    for b in range(m.num_beads):
        members = is_lipid[m.atom_to_bead == b]
        assert members.all() or not members.any()


def test_ligand_kept_by_graph_or_dropped(data_dir):
    m = coarse_grain(data_dir / "villin_ligand.pdb")  # residue scheme; lipid split by graph
    _check_invariants(m)
    assert any("POP" in r and "graph scheme" in r for r in m.report)
    lipid_beads = {int(m.atom_to_bead[a.index]) for a in m.atom_topology.atoms()
                   if a.residue.name == "POP"}
    assert len(lipid_beads) == round(134 / 10)
    assert disconnected_clusters(m.atom_to_bead, m.atom_bonds) == []
    dropped = coarse_grain(data_dir / "villin_ligand.pdb", keep="none")
    assert dropped.num_beads == 35
    assert any("ligands/other molecules dropped" in r and "POP x1" in r for r in dropped.report)


def test_non_protein_molecule(data_dir):
    m = coarse_grain(data_dir / "popc.pdb", scheme="graph", atoms_per_bead=6)
    _check_invariants(m)
    assert m.num_atoms == 134
    assert disconnected_clusters(m.atom_to_bead, m.atom_bonds) == []
    assert abs(m.num_beads - 134 / 6) <= 3
    assert set(m.atom_features["role"].tolist()) <= {0, ROLE_VOCAB.index("H")}


def test_peptide_from_sequence(data_dir):
    m = coarse_grain(data_dir / "peptide_ACDEFGHIKW.pdb")
    _check_invariants(m)
    assert [a.residue.name for a in m.topology.atoms()] == [
        "ALA", "CYS", "ASP", "GLU", "PHE", "GLY", "HIS", "ILE", "LYS", "TRP"]
    feats = m.atom_features
    ca = [a.index for a in m.atom_topology.atoms() if a.name == "CA"]
    assert np.all(feats["role"][ca] == ROLE_VOCAB.index("CA"))
    assert np.all(feats["element"][ca] == 6)
    assert set(m.bond_types.tolist()) <= {0, 1, 2, 3}


def test_polymer_topology_with_masses(polymer):
    top, pos, masses = polymer
    for scheme, apb, nb in [("graph", 1, 40), ("graph", 2, 20), ("graph", 4, 10),
                            ("residue", None, 20), ("residue_sidechain", None, 40)]:
        m = coarse_grain((top, pos), scheme=scheme, atoms_per_bead=apb, masses=masses)
        _check_invariants(m)
        assert m.num_beads == nb, scheme
        assert disconnected_clusters(m.atom_to_bead, m.atom_bonds) == []
        np.testing.assert_allclose(m.bead_masses, 100.0 * m.bead_num_atoms)
        assert np.all(m.atom_features["element"] == 0)
        roles = [ROLE_VOCAB[r] for r in m.atom_features["role"]]
        assert roles[0] == "B1" and roles[2] == "B2"
        assert set(roles) <= {"B1", "B2", "S1", "S2"}
        assert set(m.bond_types.tolist()) == {4, 5}
        residues = {RESIDUE_VOCAB[r] for r in m.atom_features["residue"]}
        assert residues <= {"P1A", "P1B", "P2A", "P2B"}
    # residue scheme: bead = backbone+side of one monomer
    m = coarse_grain((top, pos), scheme="residue", masses=masses)
    np.testing.assert_allclose(m.bead_positions(pos), 0.5 * (pos[0::2] + pos[1::2]))


def test_polymer_needs_masses(polymer):
    top, pos, _ = polymer
    with pytest.raises(ValueError, match="masses"):
        coarse_grain((top, pos), scheme="graph", atoms_per_bead=2)
    with pytest.raises(ValueError, match="masses"):
        coarse_grain((top, pos), scheme="graph", atoms_per_bead=2, masses=np.ones(3))


def test_custom_scheme(polymer):
    top, pos, masses = polymer
    a2b = np.repeat(np.arange(10), 4)
    m = coarse_grain((top, pos), scheme="custom", atom_to_bead=a2b, masses=masses)
    _check_invariants(m)
    np.testing.assert_array_equal(m.atom_to_bead, a2b)
    with pytest.raises(ValueError, match="one entry per kept atom"):
        coarse_grain((top, pos), scheme="custom", atom_to_bead=a2b[:-1], masses=masses)
    with pytest.raises(ValueError, match="unused"):
        coarse_grain((top, pos), scheme="custom", atom_to_bead=a2b * 2, masses=masses)


def test_graph_same_input_same_mapping_across_seeds_of_positions():
    # the partition depends on the bonded graph only, not on coordinates
    top, pos, masses = make_polymer(50, seed=3)
    a = coarse_grain((top, pos), scheme="graph", atoms_per_bead=3, masses=masses)
    b = coarse_grain((top, pos + 1.0), scheme="graph", atoms_per_bead=3, masses=masses)
    np.testing.assert_array_equal(a.atom_to_bead, b.atom_to_bead)


def test_bead_positions_shapes_and_quantity(villin_path):
    m = coarse_grain(villin_path)
    x = m.positions
    batch = np.stack([x, x + 0.1, x - 0.2])
    out = m.bead_positions(batch)
    assert out.shape == (3, m.num_beads, 3)
    np.testing.assert_allclose(out[1], out[0] + 0.1, atol=1e-12)
    q = unit.Quantity(x * 10.0, unit.angstrom)
    np.testing.assert_allclose(m.bead_positions(q), out[0], atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        m.bead_positions(x[:-1])
