"""Peptide builder (sequence -> physically sane all-atom structure) and `cgml generate`."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj
import numpy as np
import openmm
import pytest
from openmm import app

from openmm_cgml.cli import main
from openmm_cgml.reference.cli import parse_duration
from openmm_cgml.reference.peptide import backbone_pdb, build_peptide, parse_sequence
from openmm_cgml.reference.storage import TrajectoryFile


def _chirality(top, pos) -> list[float]:
    """Signed volume (N-CA) x (C-CA) . (CB-CA) per non-glycine residue."""
    out = []
    for res in top.residues():
        at = {a.name: a.index for a in res.atoms()}
        if {"N", "CA", "C", "CB"} <= set(at):
            n, ca, c, cb = (pos[at[k]] for k in ("N", "CA", "C", "CB"))
            out.append(float(np.dot(np.cross(n - ca, c - ca), cb - ca)))
    return out


@pytest.mark.parametrize("seq,termini,first,last", [("YDW", "capped", "ACE", "NME"),
                                                    ("KPC", "charged", "LYS", "CYS")])
def test_build_peptide_is_physically_sane(seq, termini, first, last, tmp_path):
    top, pos = build_peptide(seq, termini=termini, platform="CPU")
    names = [r.name for r in top.residues()]
    assert names[0] == first and names[-1] == last and len(names) == 3 + 2 * (termini == "capped")
    # amber14 recognises every residue (all hydrogens present, termini complete)
    ff = app.ForceField("amber14-all.xml", "implicit/gbn2.xml")
    system = ff.createSystem(top, nonbondedMethod=app.NoCutoff)
    assert system.getNumParticles() == top.getNumAtoms()
    d = np.array([np.linalg.norm(pos[a.index] - pos[b.index]) for a, b in top.bonds()])
    assert d.min() > 0.09 and d.max() < 0.19  # nm: X-H ~0.1, C-C ~0.15, C-S ~0.18
    # no clashes between non-bonded atoms
    bonded = {(min(a.index, b.index), max(a.index, b.index)) for a, b in top.bonds()}
    i, j = np.triu_indices(len(pos), 1)
    r = np.linalg.norm(pos[i] - pos[j], axis=1)
    close = [(a, b) for a, b, x in zip(i, j, r, strict=True) if x < 0.15 and (a, b) not in bonded]
    angles = set()
    for a, b in bonded:  # 1-3 pairs may be close
        for c, e in bonded:
            if len({a, b, c, e}) == 3:
                angles.add(tuple(sorted({a, b, c, e} - ({a, b} & {c, e}))))
    assert all(tuple(sorted(p)) in angles for p in close)
    # L-amino acids: same handedness as villin (openmm's test.pdb)
    ref = app.PDBFile(str(Path(app.__file__).parent / "data" / "test.pdb"))
    ref_pos = np.array(ref.positions.value_in_unit(openmm.unit.nanometer))
    ref_sign = np.sign(_chirality(ref.topology, ref_pos)[0])
    assert all(np.sign(v) == ref_sign for v in _chirality(top, pos))
    # trans peptide bonds
    pdb = tmp_path / "p.pdb"
    with open(pdb, "w") as fh:
        app.PDBFile.writeFile(top, pos * openmm.unit.nanometer, fh)
    _, omega = mdtraj.compute_omega(mdtraj.load(str(pdb)))
    assert np.all(np.abs(np.degrees(omega)) > 150)


def test_sequence_errors():
    assert parse_sequence("gyd-pe") == ["GLY", "TYR", "ASP", "PRO", "GLU"]
    with pytest.raises(ValueError, match="unknown residue letters BXZ"):
        parse_sequence("GBXZ")
    with pytest.raises(ValueError, match="empty"):
        parse_sequence("  ")
    with pytest.raises(ValueError, match="termini"):
        backbone_pdb(["GLY"], termini="amidated")


def test_parse_duration():
    assert parse_duration("50ns") == 50_000.0
    assert parse_duration("4fs") == pytest.approx(0.004)
    assert parse_duration("100") == 100.0
    assert parse_duration("5tau", "tau") == 5.0
    assert parse_duration("3.1658ps", "tau") == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError, match="--time"):
        parse_duration("ten ns", what="--time")
    with pytest.raises(ValueError, match="unknown time unit"):
        parse_duration("5tau")


def test_cli_generate_peptide_and_polymer(tmp_path, capsys):
    out = tmp_path / "data"
    rc = main(["generate", "peptide", "--sequence", "GA", "--time", "40fs", "--stride", "20fs",
               "--equilibrate", "8fs", "--timestep", "2fs", "--platform", "CPU", "--seed", "1",
               "-o", str(out), "--no-progress"])
    assert rc == 0
    assert (out / "GA.pdb").exists()
    with TrajectoryFile(out / "GA.h5") as tf:
        assert len(tf) == 2 and tf.attrs["sequence"] == "GA" and tf.attrs["seed"] == 1
        assert tf.mapping.num_beads == 4
    assert "ns/day" in capsys.readouterr().out

    rc = main(["generate", "pdb", str(out / "GA.pdb"), "--time", "20fs", "--stride", "20fs",
               "--equilibrate", "0ps", "--timestep", "2fs", "--platform", "CPU",
               "-o", str(tmp_path / "pdbout"), "--no-progress", "--name", "dipeptide"])
    assert rc == 0
    with TrajectoryFile(tmp_path / "pdbout" / "dipeptide.h5") as tf:  # in a folder: NAME.h5
        assert tf.attrs["name"] == "dipeptide" and tf.attrs["source"] == "GA.pdb"

    # copies and several peptides in one System: one file each, copy j of NAME is NAME_c<j>
    rc = main(["generate", "peptide", "-s", "GA", "-s", "AG", "--copies", "2", "--together",
               "--time", "40fs", "--stride", "20fs", "--equilibrate", "0ps", "--timestep", "2fs",
               "--platform", "CPU", "-o", str(tmp_path / "set"), "--no-progress"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "set").glob("*.h5")) == [
        "AG.h5", "AG_c1.h5", "GA.h5", "GA_c1.h5"]
    with TrajectoryFile(tmp_path / "set" / "AG_c1.h5") as tf:
        assert len(tf) == 2 and tf.attrs["copy"] == 1 and tf.attrs["name"] == "AG"
        assert tf.attrs["shared_system"]["files"] == ["GA.h5", "GA_c1.h5", "AG.h5", "AG_c1.h5"]
    assert "4 molecules in one System" in capsys.readouterr().out
    rc = main(["generate", "peptide", "-s", "GA", "--copies", "2", "--time", "20fs",
               "--stride", "20fs", "--equilibrate", "0ps", "--timestep", "2fs", "--platform", "CPU",
               "-o", str(tmp_path / "one" / "ga.h5"), "--no-progress"])
    assert rc == 0 and sorted(p.name for p in (tmp_path / "one").glob("*.h5")) == [
        "ga.h5", "ga_c1.h5"]

    poly = tmp_path / "poly"
    rc = main(["generate", "polymer", "--chains", "4", "--split-seed", "0", "--time", "1tau",
               "--stride", "0.5tau", "--equilibrate", "0.5tau", "--min-length", "8",
               "--max-length", "10", "--platform", "CPU", "-o", str(poly), "--no-progress"])
    assert rc == 0
    splits = json.loads((poly / "splits.json").read_text())
    files = splits["train"] + splits["val"] + splits["test"]
    assert sorted(files) == sorted(p.name for p in poly.glob("*.h5"))
    assert "particle-steps/s" in capsys.readouterr().out


def test_random_sequences_are_seeded():
    from openmm_cgml.reference.cli import random_sequences

    a = random_sequences(10, "3-6", 0)
    assert a == random_sequences(10, "3-6", 0) != random_sequences(10, "3-6", 1)
    assert len(set(a)) == 10 and all(3 <= len(x) <= 6 for x in a)
    parse_sequence("".join(a))
    with pytest.raises(ValueError, match="--length"):
        random_sequences(2, "six", 0)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["generate", "pdb", str(tmp_path / "missing.pdb"), "-o", str(tmp_path)]) == 2
    assert "structure file not found" in capsys.readouterr().err
    pdb = tmp_path / "x.pdb"
    pdb.write_text("END\n")
    assert main(["generate", "pdb", str(pdb), "--name", "a", "--name", "b",
                 "-o", str(tmp_path)]) == 2
    assert "one name per structure" in capsys.readouterr().err
    assert main(["generate", "peptide", "--sequence", "GJ", "-o", str(tmp_path)]) == 2
    assert "unknown residue letters J" in capsys.readouterr().err
    assert main(["generate", "peptide", "--sequence", "GA", "--stride", "3fs",
                 "-o", str(tmp_path)]) == 2
    assert "not a multiple of the time step" in capsys.readouterr().err
    assert main(["generate", "peptide", "-o", str(tmp_path)]) == 2
    assert "--random" in capsys.readouterr().err
    assert main(["generate", "peptide", "-s", "GA", "--copies", "0", "-o", str(tmp_path)]) == 2
    assert "--copies must be >= 1" in capsys.readouterr().err
