"""Several molecules in one implicit-solvent System (run_reference_set, --copies/--together)."""

from __future__ import annotations

import numpy as np
import pytest

from openmm_cgml.reference import storage
from openmm_cgml.reference.allatom import (
    SET_RESTRAINT_FREE_NM,
    SET_RESTRAINT_K,
    MDSettings,
    checkpoint_path,
    com_restraint,
    prepare_set,
    run_reference,
    run_reference_set,
)
from openmm_cgml.reference.peptide import build_peptide
from openmm_cgml.reference.storage import TrajectoryFile


@pytest.fixture(scope="module")
def aga() -> tuple:
    return build_peptide("AGA", platform="CPU")


@pytest.fixture(scope="module")
def gly() -> tuple:
    return build_peptide("GG", platform="CPU")


def _settings(**kw) -> MDSettings:
    base = dict(timestep_fs=2.0, stride_ps=0.02, production_ps=0.1, equilibration_ps=0.01,
                save_atoms=True)
    base.update(kw)
    return MDSettings(**base)


def test_centre_of_mass_restraint_moves_molecules_as_a_whole(aga, gly):
    """The restraint force on each atom is proportional to its mass (no internal effect),
    zero inside the free radius, and the molecules start far apart."""
    import openmm
    from openmm import unit

    system, top, pos, atoms, offsets = prepare_set([aga, gly, aga], _settings())
    assert [len(a) for a in atoms] == [39, 26, 39] and system.getNumParticles() == 104
    xyz = np.array(pos.value_in_unit(unit.nanometer))
    gaps = [np.linalg.norm(xyz[atoms[i]][:, None] - xyz[atoms[j]][None], axis=-1).min()
            for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 4.0
    restraint = system.getForce(system.getNumForces() - 1)
    assert isinstance(restraint, openmm.CustomCentroidBondForce)
    for i in range(system.getNumForces()):
        system.getForce(i).setForceGroup(0)
    restraint.setForceGroup(1)
    masses = np.array([system.getParticleMass(i).value_in_unit(unit.amu)
                       for i in range(system.getNumParticles())])
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001),
                         openmm.Platform.getPlatformByName("Reference"))
    shift = np.zeros_like(xyz)
    shift[atoms[1]] = [SET_RESTRAINT_FREE_NM + 0.5, 0.0, 0.0]  # molecule 1 outside its sphere
    shift[atoms[2]] = [0.0, 0.3, 0.0]                         # molecule 2 still inside
    ctx.setPositions(xyz + shift)
    f = ctx.getState(getForces=True, groups={1}).getForces(asNumpy=True).value_in_unit(
        unit.kilojoule_per_mole / unit.nanometer)
    acc = f / masses[:, None]
    np.testing.assert_allclose(acc[atoms[1]], acc[atoms[1]][:1].repeat(26, 0), rtol=1e-6)
    # pulled back towards its grid point: k (d - r_free) / M_molecule
    assert acc[atoms[1]][0, 0] == pytest.approx(-SET_RESTRAINT_K * 0.5 / masses[atoms[1]].sum(),
                                                rel=1e-5)
    assert np.abs(f[atoms[0]]).max() == 0.0 and np.abs(f[atoms[2]]).max() == 0.0


def test_restraint_force_is_finite_when_the_centre_sits_on_its_grid_point():
    """d = 0 exactly (a one-atom group on its reference point; the GPU hit it with whole
    molecules): forces must be zero, not NaN (the bare sqrt gives 0/0)."""
    import openmm

    system = openmm.System()
    for _ in range(2):
        system.addParticle(12.0)
    xyz = np.array([[0.5, 0.25, 0.125], [3.0, 0.0, 0.0]])
    system.addForce(com_restraint([np.array([0]), np.array([1])], np.full(2, 12.0), xyz))
    for name in ("Reference", "CPU"):
        ctx = openmm.Context(system, openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName(name))
        ctx.setPositions(xyz + np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]]))
        state = ctx.getState(getForces=True, getEnergy=True)
        f = state.getForces(asNumpy=True)._value
        assert np.isfinite(f).all(), name
        assert np.abs(f[0]).max() == 0.0
        assert f[1, 0] == pytest.approx(-SET_RESTRAINT_K * 0.5, rel=1e-5)


def test_set_run_writes_each_molecule_as_if_alone_and_resumes_exactly(aga, gly, tmp_path):
    settings = _settings(production_ps=0.12)
    full = [tmp_path / "a.h5", tmp_path / "g.h5", tmp_path / "a_c1.h5"]
    res = run_reference_set([aga, gly, aga], full, settings, platform="Reference",
                            progress=False)
    assert [r.frames for r in res] == [6, 6, 6]
    assert [r.num_beads for r in res] == [5, 4, 5]
    assert res[0].extra["molecules_in_system"] == 3
    assert not checkpoint_path(full[1]).exists() and checkpoint_path(full[0]).exists()
    with TrajectoryFile(full[0]) as a, TrajectoryFile(full[2]) as c:
        # the grid shift is removed: the molecule sits where a run of its own would
        com = a.bead_positions[:].mean(axis=1)
        assert np.linalg.norm(com, axis=-1).max() < 1.5
        assert a.attrs["shared_system"]["molecules"] == ["a", "g", "a_c1"]
        # two copies of one structure get different thermal noise
        assert not np.allclose(a.bead_positions[:] - a.bead_positions[:].mean(1, keepdims=True),
                               c.bead_positions[:] - c.bead_positions[:].mean(1, keepdims=True))
        assert a.atom_positions.shape == (6, 39, 3)
    # interrupted after 3 frames, resumed: equal to the uninterrupted run
    part = [tmp_path / "p_a.h5", tmp_path / "p_g.h5", tmp_path / "p_a_c1.h5"]

    def interrupt(frames: int) -> None:
        if frames >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_reference_set([aga, gly, aga], part, settings, platform="Reference",
                          progress=False, max_block_frames=3, callback=interrupt)
    assert [storage.count_frames(p) for p in part] == [3, 3, 3]
    res = run_reference_set([aga, gly, aga], part, settings, platform="Reference",
                            progress=False)
    assert [r.new_frames for r in res] == [3, 3, 3]
    for f, p in zip(full, part, strict=True):
        with TrajectoryFile(f) as a, TrajectoryFile(p) as b:
            np.testing.assert_array_equal(a.time, b.time)
            np.testing.assert_array_equal(a.bead_positions[:], b.bead_positions[:])
    # resuming with other molecules is refused, naming what the checkpoint belongs to
    with pytest.raises(ValueError, match="belongs to a run of"):
        run_reference_set([aga, gly], part[:2], _settings(production_ps=0.2),
                          platform="Reference", progress=False)
    part[2].unlink()
    with pytest.raises(ValueError, match="only some of the outputs exist"):
        run_reference_set([aga, gly, aga], part, _settings(production_ps=0.2),
                          platform="Reference", progress=False)


def test_set_run_needs_implicit_solvent_and_one_file_each(aga, tmp_path):
    with pytest.raises(ValueError, match="implicit solvent"):
        run_reference_set([aga, aga], [tmp_path / "a.h5", tmp_path / "b.h5"],
                          _settings(solvent="explicit"), platform="CPU", progress=False)
    with pytest.raises(ValueError, match="same file"):
        run_reference_set([aga, aga], [tmp_path / "a.h5", tmp_path / "a.h5"], _settings(),
                          platform="CPU", progress=False)
    with pytest.raises(ValueError, match="one output file per structure"):
        run_reference_set([aga, aga], [tmp_path / "a.h5"], _settings(), platform="CPU",
                          progress=False)
    # one molecule: the single-run path (no restraint, no shared_system attribute)
    res = run_reference(aga, tmp_path / "one.h5", _settings(production_ps=0.04),
                        platform="CPU", progress=False)
    assert res.frames == 2 and res.extra["molecules_in_system"] == 1
    with TrajectoryFile(tmp_path / "one.h5") as tf:
        assert "shared_system" not in tf.attrs
