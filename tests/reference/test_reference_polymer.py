"""Polymer benchmark family: compositions/splits, force field, dynamics, files, resume."""

from __future__ import annotations

import json

import numpy as np
import openmm
import pytest

from openmm_cgml.reference import polymer as P
from openmm_cgml.reference.storage import TrajectoryFile


def test_reduced_units():
    assert P.EPSILON_KJ == pytest.approx(2.4943, abs=1e-4)  # kT at 300 K
    assert P.TAU_PS == pytest.approx(0.5 * np.sqrt(100.0 / 2.4943), rel=1e-4)
    assert P.TAU_PS == pytest.approx(3.166, abs=1e-3)
    p = P.PolymerParameters()
    assert p.temperature_K == 300.0 and p.timestep_ps == pytest.approx(0.03166, abs=1e-5)


def test_compositions_split_by_class_and_seeded():
    comps = P.generate_compositions(200, split_seed=3)
    again = P.generate_compositions(200, split_seed=3)
    other = P.generate_compositions(200, split_seed=4)
    assert [c.to_dict() for c in comps] == [c.to_dict() for c in again]
    assert [c.sides for c in comps] != [c.sides for c in other]
    splits = [c.split for c in comps]
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (140, 20, 40)
    lo, hi = P.TRAIN_F_RANGE
    for c in comps:
        assert 20 <= c.length <= 100 and len(c.sides) == len(c.backbone) == c.length
        assert abs(c.f_s1 - c.f_s1_target) <= 0.5 / c.length + 1e-12  # exact rounding
        if c.split in ("train", "val"):
            assert c.pattern in ("random", "alternating") and lo <= c.f_s1 <= hi
        else:  # a different class: blocky and/or f outside the training range
            assert c.pattern == "blocky" or not lo <= c.f_s1 <= hi
    tests = [c for c in comps if c.split == "test"]
    assert {c.test_class for c in tests} == {"blocky", "f_outside", "blocky_f_outside"}
    # the test set spans collapsed (high f) to swollen (low f) chains
    assert min(c.f_s1 for c in tests) < 0.15 and max(c.f_s1 for c in tests) > 0.65


@pytest.mark.parametrize("pattern,block", [("random", None), ("alternating", None),
                                           ("blocky", 4)])
def test_side_sequences(pattern, block):
    rng = np.random.default_rng(0)
    s = P.side_sequence(40, 0.5, pattern, block, rng)
    assert len(s) == 40 and s.count("A") == 20
    if pattern == "alternating":
        assert "AA" not in s and "BB" not in s
    if pattern == "blocky":
        runs = [len(r) for r in s.replace("B", " ").split()]
        assert max(runs) >= 3
    with pytest.raises(ValueError, match="pattern"):
        P.side_sequence(10, 0.5, "zigzag", None, rng)


def _pair_energy(types: tuple[int, int], r_nm: float, params=None) -> float:
    comp = P.Composition("x", 1, 0.0, "random", None, "train", None, "1", "B")
    system, _, _ = P.build_polymer_system([comp, comp], params)
    nb = next(f for f in system.getForces() if isinstance(f, openmm.CustomNonbondedForce))
    nb.setParticleParameters(0, [float(types[0])])
    nb.setParticleParameters(2, [float(types[1])])
    for f in system.getForces():
        f.setForceGroup(1 if isinstance(f, openmm.CustomNonbondedForce) else 0)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001),
                         openmm.Platform.getPlatformByName("Reference"))
    far = 50.0
    ctx.setPositions(np.array([[0, 0, 0], [0, far, 0], [r_nm, 0, 0], [r_nm, -far, 0]]))
    e = ctx.getState(getEnergy=True, groups={1}).getPotentialEnergy()
    return e.value_in_unit(openmm.unit.kilojoule_per_mole)


def _ah(lam: float, r: float) -> float:
    s, eps, rc = P.SIGMA_NM, P.EPSILON_KJ, 2.5 * P.SIGMA_NM

    def lj(x: float) -> float:
        return 4 * eps * ((s / x) ** 12 - (s / x) ** 6)

    if r >= rc:
        return 0.0
    if r < 2 ** (1 / 6) * s:
        return lj(r) + eps - lam * (eps + lj(rc))
    return lam * (lj(r) - lj(rc))


@pytest.mark.parametrize("ti,tj", [(2, 2), (0, 1), (0, 2), (3, 2), (3, 3), (1, 1)])
def test_pair_potential_matches_ashbaugh_hatch(ti, tj):
    lam = P.DEFAULT_ATTRACTION[ti, tj]
    for r in (0.45, 0.5, 2 ** (1 / 6) * 0.5, 0.6, 0.9, 1.2, 1.26):
        assert _pair_energy((ti, tj), r) == pytest.approx(_ah(lam, r), abs=1e-6)
    # attractive well depth lambda * eps (shifted), purely repulsive when lambda = 0
    rmin = 2 ** (1 / 6) * 0.5
    assert _pair_energy((ti, tj), rmin) <= 1e-9
    if lam == 0:
        assert _pair_energy((ti, tj), 0.7) == pytest.approx(0.0, abs=1e-9)


def test_many_chains_do_not_interact():
    """Energy of the many-chain System = sum of the single-chain energies."""
    comps = P.generate_compositions(5, split_seed=1, min_length=8, max_length=12)
    system, top, ranges = P.build_polymer_system(comps)
    assert top.getNumChains() == 5
    names = {r.name for r in top.residues()}
    assert names <= {"P1A", "P1B", "P2A", "P2B"}
    assert all(a.element is None for a in top.atoms())
    rng = np.random.default_rng(0)
    local = [P.initial_conformation(c, rng) * P.SIGMA_NM for c in comps]
    grid = P.ChainGrid(ranges, 2.5 * P.SIGMA_NM)
    pos = grid.recentre(np.concatenate(local))
    assert grid.check(pos) == 0
    plat = openmm.Platform.getPlatformByName("Reference")
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), plat)
    ctx.setPositions(pos)
    total = ctx.getState(getEnergy=True).getPotentialEnergy()._value
    parts = 0.0
    for c, loc in zip(comps, local, strict=True):
        s1, _, _ = P.build_polymer_system([c])
        ctx1 = openmm.Context(s1, openmm.VerletIntegrator(0.001), plat)
        ctx1.setPositions(loc)
        parts += ctx1.getState(getEnergy=True).getPotentialEnergy()._value
    assert total == pytest.approx(parts, rel=1e-9, abs=1e-6)


def test_temperature_and_bond_lengths_in_dynamics():
    """Kinetic temperature from velocities ~ 300 K, bonds ~ 1 sigma with k_BT/k spread."""
    comps = P.generate_compositions(6, split_seed=2, min_length=20, max_length=25)
    params = P.PolymerParameters()
    system, _, ranges = P.build_polymer_system(comps, params)
    rng = np.random.default_rng(1)
    grid = P.ChainGrid(ranges, 2.5 * P.SIGMA_NM)
    pos = grid.recentre(np.concatenate([P.initial_conformation(c, rng) * P.SIGMA_NM
                                        for c in comps]))
    integ = openmm.LangevinMiddleIntegrator(params.temperature_K, params.friction / P.TAU_PS,
                                            params.timestep_ps)
    integ.setRandomNumberSeed(7)
    ctx = openmm.Context(system, integ, openmm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(pos)
    openmm.LocalEnergyMinimizer.minimize(ctx, 1.0, 0)
    ctx.setVelocitiesToTemperature(params.temperature_K, 3)
    integ.step(500)
    masses = np.full(system.getNumParticles(), P.MASS_AMU)
    temps, bonds = [], []
    bond_idx = np.concatenate([P.chain_bonds(c.length) + a
                               for c, (a, _) in zip(comps, ranges, strict=True)])
    for _ in range(40):
        integ.step(50)
        st = ctx.getState(getVelocities=True, getPositions=True)
        v = st.getVelocities(asNumpy=True)._value
        x = st.getPositions(asNumpy=True)._value
        temps.append(P.kinetic_temperature(v, masses))
        bonds.append(np.linalg.norm(x[bond_idx[:, 0]] - x[bond_idx[:, 1]], axis=1))
    assert np.mean(temps) == pytest.approx(300.0, rel=0.03)
    b = np.concatenate(bonds) / P.SIGMA_NM
    assert b.mean() == pytest.approx(1.0, abs=0.05)
    assert 0.06 < b.std() < 0.14  # sqrt(kT / k) = 0.1 sigma
    # ~1e4 samples of a ~N(1, 0.1) bond. The CPU platform's dynamics is not bit-reproducible
    # (threaded force sums), so the extremes vary run to run: a CI run reached 1.503, just past
    # the 5-sigma band this used to be. A broken bond or wrong units would land far outside.
    assert b.min() > 0.4 and b.max() < 1.7


def test_generate_dataset_files_splits_and_resume(tmp_path):
    kw = dict(split_seed=0, seed=5, stride_tau=0.5, equilibration_tau=0.5,
              min_length=10, max_length=14, save_atoms=True, platform="Reference",
              progress=False)
    full = P.generate_polymer_dataset(tmp_path / "full", 5, production_tau=3.0, **kw)
    assert full.frames == 6 and full.separation_violations == 0
    assert full.particle_steps_per_s > 0
    splits = json.loads((tmp_path / "full" / "splits.json").read_text())
    assert len(splits["train"]) + len(splits["val"]) + len(splits["test"]) == 5
    assert splits["units"]["sigma_nm"] == 0.5 and splits["units"]["mass_amu"] == 100.0
    assert not set(splits["train"]) & set(splits["test"])
    for name in splits["test"]:
        c = splits["compositions"][name]
        assert c["pattern"] == "blocky" or not 0.2 <= c["f_S1"] <= 0.6
    with TrajectoryFile(full.files[0]) as tf:
        a = tf.attrs
        assert a["kind"] == "polymer"
        assert a["stride_ps"] == pytest.approx(0.5 * P.TAU_PS)
        assert a["composition"]["split"] in ("train", "val", "test")
        assert a["reduced_units"]["tau_ps"] == pytest.approx(P.TAU_PS)
        np.testing.assert_allclose(tf.time, 0.5 * P.TAU_PS * np.arange(1, 7))
        m = tf.mapping
        assert m.num_atoms == 2 * a["composition"]["L"]
        assert m.scheme == "graph"
        assert m.num_beads == pytest.approx(m.num_atoms / 4, abs=1)
        np.testing.assert_allclose(m.bead_masses.sum(), 100.0 * m.num_atoms)
        x = tf.atom_positions[:]
        np.testing.assert_allclose(tf.bead_positions[:], m.bead_positions(x), atol=1e-5)
        # stored coordinates are continuous (no jumps from re-centring on the grid)
        com = x.mean(axis=1)
        assert np.linalg.norm(np.diff(com, axis=0), axis=1).max() < 2 * P.SIGMA_NM
        assert np.abs(com).max() < 10 * P.SIGMA_NM

    summary = P.summarize_polymer_set(tmp_path / "full")
    assert set(summary["chains"]) == set(splits["compositions"])
    assert (tmp_path / "full" / "summary.json").exists()
    for c in summary["chains"].values():
        assert 0.5 < c["rg_mean_sigma"] < 5.0 and c["rg2_relaxation_tau"] > 0
    assert summary["too_short"]  # 3 tau runs are far below 100 relaxation times

    # interrupted run + resume == uninterrupted run (Reference platform, exact checkpoint)
    def stop(frames: int) -> None:
        if frames >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        P.generate_polymer_dataset(tmp_path / "part", 5, production_tau=3.0,
                                   max_block_frames=2, callback=stop, **kw)
    res = P.generate_polymer_dataset(tmp_path / "part", 5, production_tau=3.0, **kw)
    assert (res.frames, res.new_frames) == (6, 4)
    for fa, fb in zip(full.files, res.files, strict=True):
        with TrajectoryFile(fa) as a, TrajectoryFile(fb) as b:
            np.testing.assert_array_equal(a.time, b.time)
            np.testing.assert_array_equal(a.bead_positions[:], b.bead_positions[:])
            np.testing.assert_array_equal(a.atom_positions[:], b.atom_positions[:])
    with pytest.raises(ValueError, match="different settings"):
        P.generate_polymer_dataset(tmp_path / "part", 5, production_tau=3.0,
                                   **{**kw, "seed": 6})
    # extend: append more frames to every chain
    more = P.generate_polymer_dataset(tmp_path / "part", 5, production_tau=4.0, **kw)
    assert (more.frames, more.new_frames) == (8, 2)


def test_deterministic_cpu_runs_repeat_bit_for_bit(tmp_path):
    """``deterministic=True`` (``cgml generate --deterministic``): two CPU runs of one seed
    write identical trajectories (without it, 2-thread CPU runs of one seed differ)."""
    kw = dict(split_seed=1, seed=1, stride_tau=0.5, equilibration_tau=0.5, min_length=10,
              max_length=12, platform="CPU", deterministic=True, progress=False)
    a = P.generate_polymer_dataset(tmp_path / "a", 3, production_tau=2.0, **kw)
    b = P.generate_polymer_dataset(tmp_path / "b", 3, production_tau=2.0, **kw)
    for fa, fb in zip(a.files, b.files, strict=True):
        with TrajectoryFile(fa) as x, TrajectoryFile(fb) as y:
            assert x.bead_positions.shape[0] == 4
            np.testing.assert_array_equal(x.bead_positions[:], y.bead_positions[:])


def test_only_one_split_in_independent_copies(tmp_path):
    """``only="test", copies=3`` (``cgml generate polymer --only test --copies 3``): the test
    chains of the full set (same compositions and names), each run three times from its own
    start; evaluation and the summary pool the copies as runs of one molecule."""
    from openmm_cgml.evaluation import load_trajectories, resolve_files

    kw = dict(split_seed=0, seed=2, stride_tau=0.5, equilibration_tau=0.5, min_length=10,
              max_length=12, platform="Reference", progress=False)
    full = P.generate_compositions(6, split_seed=0, min_length=10, max_length=12)
    tests = [c for c in full if c.split == "test"]
    res = P.generate_polymer_dataset(tmp_path / "t", 6, production_tau=2.0, only="test",
                                     copies=3, **kw)
    assert len(res.files) == 3 * len(tests) and res.separation_violations == 0
    splits = json.loads((tmp_path / "t" / "splits.json").read_text())
    assert splits["train"] == [] and splits["val"] == [] and splits["copies"] == 3
    assert splits["test"] == [f"{c.name}{s}.h5" for c in tests for s in ("", "_c1", "_c2")]
    assert splits["compositions"][f"{tests[0].name}_c2.h5"] == tests[0].to_dict()
    groups = load_trajectories(resolve_files(tmp_path / "t", "test"))
    assert sorted(groups) == sorted(c.name for c in tests)
    runs = groups[tests[0].name].runs
    assert len(runs) == 3 and all(r.shape == runs[0].shape for r in runs)
    # independent copies: different starts, different paths
    assert not np.allclose(runs[0], runs[1]) and not np.allclose(runs[1], runs[2])
    summary = P.summarize_polymer_set(tmp_path / "t")
    entry = summary["chains"][f"{tests[0].name}.h5"]
    assert entry["copies"] == 3 and len(entry["rg_copy_means_sigma"]) == 3
    assert entry["run_length_tau"] == pytest.approx(3 * 2.0)
    assert entry["copy_length_in_relaxations"] == pytest.approx(
        entry["run_length_in_relaxations"] / 3)
    # resuming needs the same only/copies; bad values are named
    with pytest.raises(ValueError, match="different settings.*copies"):
        P.generate_polymer_dataset(tmp_path / "t", 6, production_tau=2.0, only="test",
                                   copies=2, **kw)
    with pytest.raises(ValueError, match="--only"):
        P.generate_polymer_dataset(tmp_path / "x", 6, production_tau=2.0, only="tests", **kw)
    with pytest.raises(ValueError, match="--copies"):
        P.generate_polymer_dataset(tmp_path / "x", 6, production_tau=2.0, copies=0, **kw)


def test_initial_conformations_are_self_avoiding():
    comps = P.generate_compositions(60, split_seed=0, min_length=90, max_length=100)
    rng = np.random.default_rng(0)
    for c in comps:
        x = P.initial_conformation(c, rng)
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        assert d.min() >= 0.95 - 1e-9
        b = P.chain_bonds(c.length)
        np.testing.assert_allclose(np.linalg.norm(x[b[:, 0]] - x[b[:, 1]], axis=1), 1.0)
