"""All-atom reference runs: frames, stride, units, topology, resume and append."""

from __future__ import annotations

import json

import h5py
import mdtraj
import numpy as np
import pytest

from openmm_cgml.reference import storage
from openmm_cgml.reference.allatom import MDSettings, checkpoint_path, run_reference
from openmm_cgml.reference.peptide import build_peptide
from openmm_cgml.reference.storage import TrajectoryFile


@pytest.fixture(scope="module")
def aga() -> tuple:
    """Capped Ala-Gly-Ala (39 atoms), built from its sequence."""
    return build_peptide("AGA", platform="CPU")


def _settings(**kw) -> MDSettings:
    base = dict(timestep_fs=2.0, stride_ps=0.02, production_ps=0.12, equilibration_ps=0.01,
                save_atoms=True)
    base.update(kw)
    return MDSettings(**base)


def test_short_run_frames_stride_units_topology(aga, tmp_path):
    out = tmp_path / "aga.h5"
    res = run_reference(aga, out, _settings(), platform="CPU", progress=False)
    assert res.frames == 6 and res.new_frames == 6 and res.platform == "CPU"
    assert res.ns_per_day > 0
    with TrajectoryFile(out) as tf:
        assert len(tf) == 6
        np.testing.assert_allclose(tf.time, 0.02 * np.arange(1, 7), rtol=1e-12)
        a = tf.attrs
        assert a["format"] == "openmm-cgml-trajectory" and a["version"] == 1
        assert a["kind"] == "protein" and a["name"] == "aga"
        assert a["stride_ps"] == pytest.approx(0.02)
        assert a["fine_timestep_ps"] == pytest.approx(0.002)
        assert a["temperature_K"] == 300.0 and a["seed"] == 0
        assert a["forcefield"] == "amber14-all.xml+implicit/gbn2.xml"
        assert a["units"]["positions"] == "nm" and a["units"]["time"] == "ps"
        assert "openmm" in a["software"]
        m = tf.mapping
        assert m.num_atoms == 39 and m.num_beads == 5  # ACE, ALA, GLY, ALA, NME
        assert tf.bead_positions.dtype == np.float32
        assert tf.bead_positions.shape == (6, 5, 3)
        xyz = tf.atom_positions[:]
        # bead positions are the mass-weighted centres of the stored atoms (nm)
        np.testing.assert_allclose(tf.bead_positions[:], m.bead_positions(xyz), atol=1e-5)
        # nm, not Angstrom: C-H bonds ~0.109 nm, peptide ~1 nm across
        span = np.ptp(xyz[0], axis=0).max()
        assert 0.4 < span < 2.5
        traj = tf.to_mdtraj(atoms=True)
        assert traj.n_frames == 6 and traj.n_atoms == 39
        assert [r.name for r in traj.topology.residues] == ["ACE", "ALA", "GLY", "ALA", "NME"]
        assert traj.topology.n_bonds >= 38
        beads = tf.to_mdtraj(atoms=False)
        assert beads.n_atoms == 5
    # mdtraj can read the stored topology PDB by itself
    pdb = tmp_path / "top.pdb"
    with TrajectoryFile(out) as tf:
        pdb.write_text(tf.atom_topology_pdb)
    assert mdtraj.load(str(pdb)).n_atoms == 39


def test_resume_after_interrupt_matches_uninterrupted_run(aga, tmp_path):
    """Reference platform: an interrupted + resumed run equals an uninterrupted one."""
    settings = _settings(production_ps=0.16)
    full = tmp_path / "full.h5"
    run_reference(aga, full, settings, platform="Reference", progress=False)

    part = tmp_path / "part.h5"

    def interrupt(frames: int) -> None:
        if frames >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_reference(aga, part, settings, platform="Reference", progress=False,
                      max_block_frames=3, callback=interrupt)
    assert storage.count_frames(part) == 3
    assert checkpoint_path(part).exists()
    # a crash between writing frames and the checkpoint leaves extra frames: they are cut
    storage.append_frames(part, np.full((2, 5, 3), 99.0), np.array([10.0, 11.0]),
                          np.full((2, 39, 3), 99.0))
    res = run_reference(aga, part, settings, platform="Reference", progress=False)
    assert res.new_frames == 5 and res.frames == 8
    with TrajectoryFile(full) as a, TrajectoryFile(part) as b:
        np.testing.assert_array_equal(a.time, b.time)  # no gap, no duplicate
        np.testing.assert_allclose(np.diff(b.time), 0.02, rtol=1e-9)
        np.testing.assert_array_equal(a.bead_positions[:], b.bead_positions[:])
        np.testing.assert_array_equal(a.atom_positions[:], b.atom_positions[:])


def test_wall_clock_limit_stops_cleanly_and_the_run_continues(aga, tmp_path):
    """max_wall_s: production stops with everything flushed; re-running continues exactly."""
    settings = _settings(production_ps=0.1)
    full = tmp_path / "full.h5"
    run_reference(aga, full, settings, platform="Reference", progress=False)
    part = tmp_path / "part.h5"
    res = run_reference(aga, part, settings, platform="Reference", progress=False,
                        max_wall_s=0.0)
    assert (res.frames, res.new_frames) == (0, 0) and checkpoint_path(part).exists()
    res = run_reference(aga, part, settings, platform="Reference", progress=False)
    assert (res.frames, res.new_frames) == (5, 5)
    with TrajectoryFile(full) as a, TrajectoryFile(part) as b:
        np.testing.assert_array_equal(a.time, b.time)
        np.testing.assert_array_equal(a.bead_positions[:], b.bead_positions[:])


def test_append_extends_and_refuses_changed_settings(aga, tmp_path):
    out = tmp_path / "x.h5"
    run_reference(aga, out, _settings(production_ps=0.04, save_atoms=False), platform="CPU",
                  progress=False)
    res = run_reference(aga, out, _settings(production_ps=0.1, save_atoms=False),
                        platform="CPU", progress=False)
    assert (res.frames, res.new_frames) == (5, 3)
    with TrajectoryFile(out) as tf:
        np.testing.assert_allclose(tf.time, 0.02 * np.arange(1, 6))
        assert tf.atom_positions is None
        assert tf.attrs["production_ps"] == pytest.approx(0.1)
        steps = np.linalg.norm(np.diff(tf.bead_positions[:], axis=0), axis=-1)
        assert steps.max() < 0.1  # continuous across the append (20 fs between frames)
    # nothing to do when the target is reached
    assert run_reference(aga, out, _settings(production_ps=0.1, save_atoms=False),
                         platform="CPU", progress=False).new_frames == 0
    with pytest.raises(ValueError, match="different settings.*temperature_K"):
        run_reference(aga, out, _settings(production_ps=0.2, save_atoms=False,
                                          temperature_K=310.0), platform="CPU", progress=False)
    checkpoint_path(out).unlink()
    with pytest.raises(ValueError, match="no checkpoint"):
        run_reference(aga, out, _settings(production_ps=0.2, save_atoms=False),
                      platform="CPU", progress=False)


def test_settings_validation():
    with pytest.raises(ValueError, match="not a multiple of the time step"):
        MDSettings(stride_ps=0.005, timestep_fs=4.0)
    with pytest.raises(ValueError, match="not a multiple of the stride"):
        MDSettings(stride_ps=10.0, production_ps=15.0)
    with pytest.raises(ValueError, match="solvent"):
        MDSettings(solvent="vacuum")
    assert MDSettings(solvent="explicit").forcefield == ["amber14-all.xml", "amber14/tip3p.xml"]


def test_platform_selection():
    from openmm_cgml.reference.allatom import select_platform

    plat, props = select_platform("cpu")
    assert plat.getName() == "CPU" and props == {}
    plat, props = select_platform("cpu", deterministic=True)
    assert props == {"DeterministicForces": "true", "Threads": "1"}
    assert select_platform("reference", deterministic=True)[1] == {}
    assert select_platform(None)[0].getName() in ("CUDA", "CPU", "Reference")
    with pytest.raises(ValueError, match="not available"):
        select_platform("NoSuchPlatform")


def test_missing_or_bad_structure(tmp_path):
    with pytest.raises(FileNotFoundError, match="structure file not found"):
        run_reference(tmp_path / "nope.pdb", tmp_path / "o.h5", _settings(), progress=False)
    bad = tmp_path / "bad.pdb"
    bad.write_text("this is not a pdb\n")
    with pytest.raises(ValueError, match="bad.pdb"):
        run_reference(bad, tmp_path / "o.h5", _settings(), progress=False)


def test_reader_rejects_foreign_hdf5(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(ValueError, match="not an openmm-cgml trajectory"):
        TrajectoryFile(p)
    with pytest.raises(FileNotFoundError):
        TrajectoryFile(tmp_path / "missing.h5")


def test_explicit_solvent_stores_solute_only(tmp_path):
    """TIP3P/PME: the stored atoms/beads are the peptide's, water is simulated only."""
    top, pos = build_peptide("GG", platform="CPU")
    out = tmp_path / "gg.h5"
    settings = _settings(solvent="explicit", padding_nm=0.5, cutoff_nm=0.7, production_ps=0.04,
                         equilibration_ps=0.0)
    res = run_reference((top, pos), out, settings, platform="CPU", progress=False)
    assert res.num_atoms > 300  # solvated
    with TrajectoryFile(out) as tf:
        assert tf.attrs["solvent"] == "explicit"
        assert tf.atom_positions.shape == (2, top.getNumAtoms(), 3)
        assert tf.mapping.num_beads == 4
        assert json.loads(json.dumps(tf.attrs["simulation"]))["solvent"] == "explicit"


def test_writes_survive_sigint(tmp_path):
    """A SIGINT during a write is delivered only after the block is complete."""
    import os
    import signal

    from openmm_cgml.reference import polymer as P
    from openmm_cgml.reference.allatom import make_mapping

    comp = P.generate_compositions(1, split_seed=0, min_length=4, max_length=4)[0]
    top = P.chain_topology([comp])
    x = P.initial_conformation(comp, np.random.default_rng(0)) * P.SIGMA_NM
    mapping = make_mapping(top, x, "graph", 4, np.full(8, 100.0))
    out = tmp_path / "t.h5"
    storage.create_trajectory(out, mapping=mapping, atom_topology_pdb="", attrs=dict(
        kind="polymer", name="t", temperature_K=300.0, stride_ps=1.0, fine_timestep_ps=0.01,
        seed=0, forcefield="test"))
    # Python's own SIGINT handler, also where the test runner inherited SIGINT ignored
    # (a background job of a non-interactive shell)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), storage.deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            storage.append_frames(out, mapping.bead_positions(np.stack([x, x])), [1.0, 2.0])
    finally:
        signal.signal(signal.SIGINT, previous)
    with TrajectoryFile(out) as tf:
        assert len(tf) == 2 and tf.bead_positions.shape == (2, mapping.num_beads, 3)
    with pytest.raises(ValueError, match="not after the last stored frame"):
        storage.append_frames(out, mapping.bead_positions(x[None]), [2.0])
    with pytest.raises(ValueError, match="beads"):
        storage.append_frames(out, np.zeros((1, 7, 3)), [3.0])
    storage.truncate_frames(out, 1)
    assert storage.count_frames(out) == 1
