"""JSON round trip, bead PDB/DCD files read by mdtraj, and the ``cgml map`` command."""

from __future__ import annotations

import json

import mdtraj
import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit
import pytest
from mapping_helpers import make_polymer

from openmm_cgml.cli import main as cgml_main
from openmm_cgml.mapping import BeadMapping, coarse_grain
from openmm_cgml.mapping.output import write_bead_dcd, write_bead_pdb


def _same_mapping(a: BeadMapping, b: BeadMapping) -> None:
    np.testing.assert_array_equal(a.atom_to_bead, b.atom_to_bead)
    np.testing.assert_array_equal(a.atom_masses, b.atom_masses)
    np.testing.assert_array_equal(a.bead_masses, b.bead_masses)
    np.testing.assert_array_equal(a.cg_bonds, b.cg_bonds)
    np.testing.assert_array_equal(a.atom_bonds, b.atom_bonds)
    np.testing.assert_array_equal(a.bond_types, b.bond_types)
    np.testing.assert_array_equal(a.bead_types, b.bead_types)
    np.testing.assert_array_equal(a.source_atoms, b.source_atoms)
    assert a.bead_type_names == b.bead_type_names
    assert a.report == b.report and a.scheme == b.scheme
    for k in a.atom_features:
        np.testing.assert_array_equal(a.atom_features[k], b.atom_features[k])
    for ta, tb in ((a.topology, b.topology), (a.atom_topology, b.atom_topology)):
        assert [(x.name, x.residue.name, x.residue.id, x.residue.chain.id,
                 None if x.element is None else x.element.symbol) for x in ta.atoms()] == \
               [(x.name, x.residue.name, x.residue.id, x.residue.chain.id,
                 None if x.element is None else x.element.symbol) for x in tb.atoms()]
        assert sorted((x.atom1.index, x.atom2.index) for x in ta.bonds()) == \
               sorted((x.atom1.index, x.atom2.index) for x in tb.bonds())


def test_json_round_trip(tmp_path, villin_path, data_dir):
    for m in (coarse_grain(villin_path),
              coarse_grain(data_dir / "villin_ligand.pdb", scheme="graph", atoms_per_bead=6),
              coarse_grain(make_polymer()[:2], scheme="graph", atoms_per_bead=2,
                           masses=make_polymer()[2])):
        path = tmp_path / "m.json"
        m.save(path)
        back = BeadMapping.load(path)
        _same_mapping(m, back)
        np.testing.assert_allclose(back.frames, m.frames, atol=1e-6)
        data = json.loads(path.read_text())
        assert data["format"] == "openmm-cgml-mapping" and data["version"] == 1
        again = BeadMapping.from_dict(m.to_dict(include_frames=False))
        assert again.frames is None
        _same_mapping(m, again)


def test_json_bad_files(tmp_path, villin_path):
    m = coarse_grain(villin_path)
    data = m.to_dict()
    data["version"] = 99
    bad = tmp_path / "v99.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="version 99 is not supported"):
        BeadMapping.load(bad)
    tampered = m.to_dict()
    tampered["cg_bonds"] = tampered["cg_bonds"][:-1]
    with pytest.raises(ValueError, match="cg_bonds"):
        BeadMapping.from_dict(tampered)
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(ValueError, match="junk.json: mapping is not valid JSON"):
        BeadMapping.load(junk)
    with pytest.raises(FileNotFoundError):
        BeadMapping.load(tmp_path / "none.json")


def test_bead_files_open_in_mdtraj(tmp_path, villin_path):
    m = coarse_grain(villin_path, scheme="residue_sidechain")
    frames = m.bead_positions(np.stack([m.positions, m.positions + 0.05]))
    pdb = write_bead_pdb(m, tmp_path / "beads.pdb", frames)
    dcd = write_bead_dcd(m, tmp_path / "beads.dcd", frames)
    t = mdtraj.load(str(pdb))
    assert t.n_frames == 2 and t.n_atoms == m.num_beads
    assert t.topology.n_residues == 35 and t.topology.n_chains == 1
    assert {a.element.symbol for a in t.topology.atoms} == {"C"}
    assert sorted((b[0].index, b[1].index) for b in t.topology.bonds) == \
        [tuple(p) for p in m.cg_bonds.tolist()]
    np.testing.assert_allclose(t.xyz, frames, atol=1e-3)
    t2 = mdtraj.load(str(dcd), top=str(pdb))
    np.testing.assert_allclose(t2.xyz, frames, atol=1e-4)


def test_openmm_run_of_beads_writes_readable_files(tmp_path, villin_path):
    """A CG System on mapping.topology with OpenMM's own reporters -> mdtraj reads it."""
    m = coarse_grain(villin_path)
    system = openmm.System()
    for mass in m.bead_masses:
        system.addParticle(mass)
    sim = app.Simulation(m.topology, system, openmm.VerletIntegrator(0.001),
                         openmm.Platform.getPlatformByName("Reference"))
    sim.context.setPositions(m.bead_positions()[0] * unit.nanometer)
    sim.reporters.append(app.PDBReporter(str(tmp_path / "run.pdb"), 1))
    sim.reporters.append(app.DCDReporter(str(tmp_path / "run.dcd"), 1))
    sim.step(2)
    del sim
    t = mdtraj.load(str(tmp_path / "run.dcd"), top=str(tmp_path / "run.pdb"))
    assert t.n_frames == 2 and t.n_atoms == 35
    assert [r.name for r in t.topology.residues][:3] == ["LEU", "SER", "ASP"]
    assert {a.element.symbol for a in t.topology.atoms} == {"C"}


def test_cli_map(tmp_path, data_dir, capsys):
    out = tmp_path / "out"
    rc = cgml_main(["map", str(data_dir / "villin_ligand.pdb"), "-o", str(out),
                    "--scheme", "residue"])
    assert rc == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["villin_ligand_beads.pdb", "villin_ligand_mapping.json",
                     "villin_ligand_summary.json"]
    m = BeadMapping.load(out / "villin_ligand_mapping.json")
    t = mdtraj.load(str(out / "villin_ligand_beads.pdb"))
    assert t.n_atoms == m.num_beads == 48
    np.testing.assert_allclose(t.xyz[0], m.bead_positions()[0], atol=1e-3)
    summary = json.loads((out / "villin_ligand_summary.json").read_text())
    assert summary["num_beads"] == 48 and summary["report"]
    printed = capsys.readouterr().out
    assert "waters removed" in printed and "beads: 48" in printed


def test_cli_errors_leave_nothing(tmp_path, capsys):
    bad = tmp_path / "empty.pdb"
    bad.write_text("")
    out = tmp_path / "out"
    rc = cgml_main(["map", str(bad), "-o", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "cgml map: error:" in err and "empty" in err
    assert not out.exists() or not any(out.iterdir())


def test_cli_map_with_trajectory_and_custom(tmp_path, villin_path):
    pdb = app.PDBFile(str(villin_path))
    xyz = pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    box = pdb.topology.getPeriodicBoxVectors()
    dcd = tmp_path / "in.dcd"
    with open(dcd, "wb") as fh:
        writer = app.DCDFile(fh, pdb.topology, 0.002 * unit.picosecond)
        for k in range(4):
            writer.writeModel((xyz + 0.01 * k) * unit.nanometer, periodicBoxVectors=box)
    out = tmp_path / "out"
    assert cgml_main(["map", str(villin_path), "-o", str(out), "--traj", str(dcd),
                      "--chunk", "3"]) == 0
    m = BeadMapping.load(out / "test_mapping.json")
    t = mdtraj.load(str(out / "test_beads.dcd"), top=str(out / "test_beads.pdb"))
    assert t.n_frames == 4 and t.n_atoms == 35
    np.testing.assert_allclose(t.xyz[2], m.bead_positions()[0] + 0.02, atol=1e-4)
    # custom scheme from a text file of indices (one per input atom)
    idx = tmp_path / "a2b.txt"
    np.savetxt(idx, [a.residue.index // 5 for a in pdb.topology.atoms()], fmt="%d")
    out2 = tmp_path / "out2"
    assert cgml_main(["map", str(villin_path), "-o", str(out2), "--scheme", "custom",
                      "--atom-to-bead", str(idx)]) == 0
    assert BeadMapping.load(out2 / "test_mapping.json").num_beads == 7
    assert cgml_main(["map", str(villin_path), "-o", str(out2), "--scheme", "custom"]) == 2
