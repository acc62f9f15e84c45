"""Reading and cleaning: multi-model files, missing atoms, altlocs, mmCIF, non-standard
residues, kept/dropped molecules, and the errors users meet."""

from __future__ import annotations

import io

import mdtraj
import numpy as np
import openmm.app as app
import openmm.unit as unit
import pytest

from openmm_cgml.mapping import coarse_grain


def _protein_pdb_text(villin_path) -> str:
    pdb = app.PDBFile(str(villin_path))
    modeller = app.Modeller(pdb.topology, pdb.positions)
    modeller.delete([r for r in modeller.topology.residues() if r.name in ("HOH", "CL")])
    buf = io.StringIO()
    app.PDBFile.writeFile(modeller.topology, modeller.positions, buf, keepIds=True)
    return buf.getvalue()


def test_multimodel_gives_frames(data_dir):
    path = data_dir / "villin_3models.pdb"
    m = coarse_grain(path)
    assert m.frames.shape == (3, 582, 3)
    pdb = app.PDBFile(str(path))
    for k in range(3):
        xyz = pdb.getPositions(asNumpy=True, frame=k).value_in_unit(unit.nanometer)
        np.testing.assert_allclose(m.frames[k], xyz[m.source_atoms], atol=1e-9)
    beads = m.bead_positions()
    assert beads.shape == (3, 35, 3)
    assert not np.allclose(beads[0], beads[1])  # the models differ
    assert any("3 models read as 3 frames" in r for r in m.report)


def test_multimodel_with_missing_atoms_cleans_every_model(tmp_path, data_dir):
    # two models of the hydrogen-free villin: hydrogens are added to both, identically named
    text = (data_dir / "villin_missing_atoms.pdb").read_text()
    pdb = app.PDBFile(io.StringIO(text))
    xyz = pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    buf = io.StringIO()
    app.PDBFile.writeHeader(pdb.topology, buf)
    for k, shift in enumerate((0.0, 0.3)):
        app.PDBFile.writeModel(pdb.topology, (xyz + shift) * 10.0, buf, modelIndex=k + 1)
    app.PDBFile.writeFooter(pdb.topology, buf)
    path = tmp_path / "two_models.pdb"
    path.write_text(buf.getvalue())
    m = coarse_grain(path)
    assert m.frames.shape[0] == 2
    assert m.num_atoms == 582
    # model 2 is model 1 shifted by 0.3 nm: the heavy atoms must be too
    heavy = m.source_atoms >= 0
    np.testing.assert_allclose(m.frames[1][heavy], m.frames[0][heavy] + 0.3, atol=1e-6)
    assert any("cleaned each of the 2 models" in r for r in m.report)


def test_missing_atoms_added_and_reported(data_dir, villin_path):
    m = coarse_grain(data_dir / "villin_missing_atoms.pdb")
    full = coarse_grain(villin_path)
    assert m.num_atoms == full.num_atoms == 582
    res = list(m.atom_topology.residues())
    assert {"CG", "CD", "OE1", "OE2"} <= {a.name for a in res[3].atoms()}
    assert any("added missing heavy atoms CG, CD, OE1, OE2 to GLU4" in r for r in m.report)
    assert any("OXT" in r for r in m.report)
    assert any("hydrogens at pH 7" in r for r in m.report)
    # added atoms have no source; kept atoms do
    assert np.sum(m.source_atoms < 0) == 582 - (
        len(app.PDBFile(str(data_dir / "villin_missing_atoms.pdb")).positions) - 2
    )
    # the bead centres of untouched residues agree with the full structure's within 0.05 nm
    d = np.linalg.norm(m.bead_positions(m.positions) - full.bead_positions(full.positions), axis=1)
    assert np.median(d) < 0.05
    # no cleaning: the structure as is, hydrogens missing
    raw = coarse_grain(data_dir / "villin_missing_atoms.pdb", clean=False)
    assert raw.num_atoms < 300
    assert np.all(raw.source_atoms >= 0)


def test_altloc_first_location_kept(data_dir, villin_path):
    m = coarse_grain(data_dir / "villin_altloc.pdb")
    ref = coarse_grain(villin_path)
    assert m.num_atoms == ref.num_atoms
    np.testing.assert_allclose(m.positions, ref.positions, atol=1e-4)
    assert any("alternate locations" in r for r in m.report)


def test_mmcif_input(tmp_path, villin_path):
    pdb = app.PDBFile(str(villin_path))
    path = tmp_path / "villin.cif"
    with open(path, "w") as fh:
        app.PDBxFile.writeFile(pdb.topology, pdb.positions, fh)
    m = coarse_grain(path)
    ref = coarse_grain(villin_path)
    assert m.num_beads == 35
    np.testing.assert_allclose(m.bead_positions(), ref.bead_positions(), atol=1e-4)


def test_other_sources_agree(villin_path):
    ref = coarse_grain(villin_path)
    pdb = app.PDBFile(str(villin_path))
    for source in (pdb, (pdb.topology, pdb.positions), mdtraj.load(str(villin_path)),
                   app.Modeller(pdb.topology, pdb.positions)):
        m = coarse_grain(source)
        np.testing.assert_array_equal(m.atom_to_bead, ref.atom_to_bead)
        np.testing.assert_allclose(m.bead_positions(), ref.bead_positions(), atol=1e-5)
        assert m.source_num_atoms == 8867


def test_nonstandard_residue_replaced(tmp_path, villin_path):
    text = _protein_pdb_text(villin_path)
    lines = []
    for line in text.splitlines():
        if line.startswith("ATOM") and line[17:20] == "MET":
            name = line[12:16]
            if line[76:78].strip() == "H":
                continue
            if name.strip() == "SD":
                line = line[:12] + " SE " + line[16:76] + "SE" + line[78:]
            line = "HETATM" + line[6:17] + "MSE" + line[20:]
        lines.append(line)
    path = tmp_path / "mse.pdb"
    path.write_text("\n".join(lines) + "\n")
    m = coarse_grain(path)
    names = [r.name for r in m.atom_topology.residues()]
    assert "MSE" not in names and names.count("MET") == 1
    assert any("replaced non-standard residue MSE" in r and "by MET" in r for r in m.report)
    assert m.num_atoms == 582


def test_unknown_residue_in_chain_is_an_error(tmp_path, villin_path):
    text = _protein_pdb_text(villin_path)
    lines = [
        ("HETATM" + line[6:17] + "XYZ" + line[20:]) if line.startswith("ATOM")
        and line[22:26].strip() == "10" else line
        for line in text.splitlines()
    ]
    path = tmp_path / "xyz.pdb"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"XYZ10.*non-standard amino acid.*replace="):
        coarse_grain(path)
    m = coarse_grain(path, replace={"XYZ": "PHE"})
    assert [r.name for r in m.atom_topology.residues()][9] == "PHE"


def test_keep_options(data_dir):
    path = data_dir / "villin_ligand.pdb"
    m = coarse_grain(path, keep="ligands,water,ions")
    names = {r.name.upper() for r in m.atom_topology.residues()}
    assert {"HOH", "CL", "POP"} <= names
    assert m.num_beads == 35 + 13 + 20 + 2
    with pytest.raises(ValueError, match="unknown category 'lipids'"):
        coarse_grain(path, keep="lipids")


def test_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        coarse_grain(tmp_path / "missing.pdb")
    empty = tmp_path / "empty.pdb"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.pdb is empty"):
        coarse_grain(empty)
    junk = tmp_path / "junk.pdb"
    junk.write_text("this is not\na structure file\n")
    with pytest.raises(ValueError, match="junk.pdb (contains no atoms|is not a readable PDB)"):
        coarse_grain(junk)
    junk_cif = tmp_path / "junk.cif"
    junk_cif.write_text("hello\n")
    with pytest.raises(ValueError, match="junk.cif"):
        coarse_grain(junk_cif)
    other = tmp_path / "x.xyz"
    other.write_text("3\n")
    with pytest.raises(ValueError, match="unsupported file type"):
        coarse_grain(other)
    with pytest.raises(ValueError, match="cannot coarse-grain a int"):
        coarse_grain(3)
    with pytest.raises(ValueError, match="unknown mapping scheme"):
        coarse_grain(junk, scheme="martini")
    with pytest.raises(ValueError, match="atoms_per_bead"):
        coarse_grain(junk, scheme="graph")


def test_only_solvent_is_an_error(tmp_path):
    tip3p = app.PDBFile(str(__import__("pathlib").Path(app.__file__).parent / "data/tip3p.pdb"))
    path = tmp_path / "water.pdb"
    with open(path, "w") as fh:
        app.PDBFile.writeFile(tip3p.topology, tip3p.positions, fh)
    with pytest.raises(ValueError, match="nothing left after removing solvent"):
        coarse_grain(path)
    m = coarse_grain(path, keep="water", scheme="graph", atoms_per_bead=3)
    assert m.num_beads == tip3p.topology.getNumResidues()


def test_cleaning_is_reproducible(data_dir):
    a = coarse_grain(data_dir / "villin_missing_atoms.pdb", seed=3)
    b = coarse_grain(data_dir / "villin_missing_atoms.pdb", seed=3)
    np.testing.assert_array_equal(a.frames, b.frames)  # added atoms placed identically
    np.testing.assert_array_equal(a.atom_to_bead, b.atom_to_bead)


def test_nucleic_acid(data_dir):
    from openmm_cgml.mapping import ROLE_VOCAB

    m = coarse_grain(data_dir / "dna_GCATGC.pdb")
    assert [a.residue.name for a in m.topology.atoms()] == ["DG", "DC", "DA", "DT", "DG", "DC"]
    assert {a.name for a in m.topology.atoms()} == {"P"}
    roles = {ROLE_VOCAB[r] for r in m.atom_features["role"]}
    assert {"na_backbone", "na_sugar", "na_base", "H"} <= roles
    two = coarse_grain(data_dir / "dna_GCATGC.pdb", scheme="residue_sidechain")
    assert two.num_beads == 12
    atoms = list(two.atom_topology.atoms())
    base_bead = {atoms[i].name for i in np.flatnonzero(two.atom_to_bead == 1)}
    assert "N9" in base_bead and "P" not in base_bead and "C1'" not in base_bead


def test_several_chains_kept(villin_path, data_dir):
    prot = app.PDBFile(str(villin_path))
    dna = app.PDBFile(str(data_dir / "dna_GCATGC.pdb"))
    modeller = app.Modeller(prot.topology, prot.positions)
    shift = np.array([6.0, 0.0, 0.0])
    dxyz = dna.getPositions(asNumpy=True).value_in_unit(unit.nanometer) + shift
    modeller.add(dna.topology, dxyz * unit.nanometer)
    m = coarse_grain((modeller.topology, modeller.getPositions()))
    chains = list(m.topology.chains())
    assert len(chains) == 2
    assert [len(list(c.atoms())) for c in chains] == [35, 6]
    # no CG bond between the two chains
    chain_of = np.array([a.residue.chain.index for a in m.topology.atoms()])
    assert np.all(chain_of[m.cg_bonds[:, 0]] == chain_of[m.cg_bonds[:, 1]])


def test_gap_in_chain_is_a_break_not_a_bond(tmp_path, villin_path):
    text = _protein_pdb_text(villin_path)
    lines = [line for line in text.splitlines()
             if not (line.startswith("ATOM") and 10 <= int(line[22:26]) <= 14)]
    path = tmp_path / "gap.pdb"
    path.write_text("\n".join(lines) + "\n")
    m = coarse_grain(path)
    assert m.num_beads == 30
    assert any("removed 1 bond(s) longer than" in r and "VAL9" in r and "SER15" in r
               for r in m.report)
    assert len(m.cg_bonds) == 28  # two chain pieces of 9 and 21 beads
    fine = np.linalg.norm(m.positions[m.atom_bonds[:, 0]] - m.positions[m.atom_bonds[:, 1]], axis=1)
    assert fine.max() < 0.3


def test_ligand_bonds_inferred_without_conect(tmp_path, data_dir):
    text = (data_dir / "popc.pdb").read_text()
    with_conect = coarse_grain(data_dir / "popc.pdb", scheme="graph", atoms_per_bead=8)
    stripped = tmp_path / "popc_noconect.pdb"
    stripped.write_text("".join(line + "\n" for line in text.splitlines()
                                if not line.startswith("CONECT")))
    m = coarse_grain(stripped, scheme="graph", atoms_per_bead=8)
    assert any("inferred bonds from distances" in r and "POP" in r for r in m.report)
    assert {tuple(b) for b in m.atom_bonds.tolist()} == \
        {tuple(b) for b in with_conect.atom_bonds.tolist()}
    np.testing.assert_array_equal(m.atom_to_bead, with_conect.atom_to_bead)
