"""Scores, collisions, JS divergence and TICA/FES on constructed inputs."""

from __future__ import annotations

import numpy as np
import pytest

from openmm_cgml.analysis import (
    closest_nonbonded_distance,
    colliding_beads,
    collision_rate,
    compare_free_energy_surfaces,
    distance_features,
    distribution_divergence,
    excluded_pairs,
    fit_tica,
    free_energy_surface,
    js_divergence,
    mae,
    pair_type_min_distances,
    pearson_r2,
    r2_interval,
    r2_noise_ceiling,
    r2_score,
    rmse,
    rollout_stability,
    select_distance_pairs,
)


def test_r2_and_errors():
    ref = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(ref, ref) == 1.0
    assert r2_score(np.full(4, ref.mean()), ref) == pytest.approx(0.0)
    # a perfectly correlated but offset prediction: Pearson r^2 = 1, determination < 1
    assert pearson_r2(ref + 1, ref) == pytest.approx(1.0)
    assert r2_score(ref + 1, ref) == pytest.approx(1 - 4 / 5)
    assert mae(ref + 1, ref) == pytest.approx(1.0)
    assert rmse(ref + [0, 0, 0, 2], ref) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="constant reference"):
        r2_score([1, 2], [3, 3])
    with pytest.raises(ValueError, match="same number"):
        mae([1, 2], [1, 2, 3])


def test_js_divergence():
    h = np.array([1.0, 2.0, 3.0])
    assert js_divergence(h, 2 * h) == pytest.approx(0.0, abs=1e-15)
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    # closed form: p=(1,0), q=(1/2,1/2): m=(3/4,1/4)
    expect = 0.5 * np.log2(4 / 3) + 0.5 * (0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25))
    assert js_divergence([1, 0], [1, 1]) == pytest.approx(expect)
    with pytest.raises(ValueError, match="same shape"):
        js_divergence([1, 2], [1, 2, 3])


def test_distribution_divergence():
    rng = np.random.default_rng(0)
    a = rng.normal(size=50_000)
    assert distribution_divergence(a, a) == 0.0
    assert distribution_divergence(a, rng.normal(size=50_000)) < 0.01
    assert distribution_divergence(a + 10, a) > 0.99


def test_collision_counter_on_constructed_pairs():
    # 4 beads; 0-1 bonded at 0.05 nm (excluded); 2-3 non-bonded at 0.08 nm (collision)
    f0 = np.array([[0, 0, 0], [0.05, 0, 0], [5, 0, 0], [5.08, 0, 0]], dtype=float)
    # frame 1: everything far apart
    f1 = np.array([[0, 0, 0], [0.5, 0, 0], [5, 0, 0], [6, 0, 0]], dtype=float)
    traj = np.stack([f0, f1])
    bonds = [[0, 1]]
    hits = colliding_beads(traj, 0.1, bonds)
    np.testing.assert_array_equal(hits, [[False, False, True, True], [False] * 4])
    assert collision_rate(traj, 0.1, bonds) == pytest.approx(2 / 8)
    # without the bond list the bonded pair counts too
    assert collision_rate(traj, 0.1) == pytest.approx(4 / 8)
    # threshold is strict and in nm
    assert collision_rate(traj, 0.08 - 1e-9, bonds) == 0.0
    # one frame
    assert collision_rate(f0, bonds=bonds) == pytest.approx(0.5)


def test_closest_nonbonded_distance_on_constructed_frames():
    # chain 0-1-2-3; frame 0: 0 and 2 (two bonds apart) at 0.3 nm, frame 1: 0 and 3 at 0.25 nm
    f0 = np.array([[0, 0, 0], [0.4, 0.2, 0], [0.3, 0, 0], [1.5, 0, 0]], dtype=float)
    f1 = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0.25, 0]], dtype=float)
    bonds = [[0, 1], [1, 2], [2, 3]]
    np.testing.assert_allclose(closest_nonbonded_distance(np.stack([f0, f1]), bonds),
                               [0.3, 0.25])
    # 1-3 pairs excluded too: frame 0's closest is then 0-3 at 1.5 nm
    assert closest_nonbonded_distance(f0, bonds, bond_separation=2) == pytest.approx(1.5)
    # consistent with the collision counter: a frame collides iff it is below the threshold
    assert collision_rate(f1, 0.26, bonds) > 0 and collision_rate(f1, 0.24, bonds) == 0
    # through a periodic boundary; a non-finite frame gives nan; no non-bonded pair: inf
    g = np.array([[0.05, 0, 0], [1, 0, 0], [2, 0, 0], [2.95, 0, 0]])
    assert closest_nonbonded_distance(g, bonds) == pytest.approx(1.95)
    assert closest_nonbonded_distance(g, bonds, box=[3.0, 3.0, 3.0]) == pytest.approx(0.1)
    bad = np.stack([f0, f0])
    bad[1, 2, 0] = np.nan
    assert np.isnan(closest_nonbonded_distance(bad, bonds)[1])
    assert closest_nonbonded_distance(f0[:2], [[0, 1]]) == np.inf


def test_collision_per_type_threshold_and_pbc():
    x = np.array([[0, 0, 0], [0.3, 0, 0], [2, 0, 0], [2.3, 0, 0]], dtype=float)
    types = [0, 0, 1, 1]
    th = np.array([[0.35, 0.1], [0.1, 0.2]])  # type 0 pairs collide below 0.35 nm
    np.testing.assert_array_equal(colliding_beads(x, th, bead_types=types)[0], [1, 1, 0, 0])
    with pytest.raises(ValueError, match="bead_types"):
        collision_rate(x, th)
    # periodic box: 0 and 3 are 0.05 nm apart through the boundary of a 2.35 nm box
    box = [2.35, 10, 10]
    assert colliding_beads(x, 0.1, box=box)[0].tolist() == [True, False, False, True]


def test_excluded_pairs_13():
    ex = excluded_pairs([[0, 1], [1, 2], [2, 3]], 4, bond_separation=2)
    assert ex[0, 2] and ex[1, 3] and not ex[0, 3]


def test_pair_type_min_distances():
    rng = np.random.default_rng(1)
    traj = rng.uniform(0, 3, size=(20, 6, 3))
    types = np.array([0, 0, 1, 1, 2, 2])
    res = pair_type_min_distances(traj, types)
    d = np.linalg.norm(traj[:, :, None] - traj[:, None], axis=-1)
    assert res[0, 1] == pytest.approx(d[:, :2, 2:4].min())
    assert res[2, 2] == pytest.approx(d[:, 4, 5].min())
    np.testing.assert_allclose(res, res.T)
    # used as a threshold on the same data: no collisions
    assert collision_rate(traj, res, bead_types=types) == 0.0


def test_rollout_stability():
    t = np.zeros((10, 3, 3))
    t[:, 1, 0] = 0.5
    t[:, 2, 0] = 1.0
    bonds = [[0, 1], [1, 2]]
    assert rollout_stability(t, bonds).stable
    bad = t.copy()
    bad[6, 2] = np.nan
    r = rollout_stability(bad, bonds)
    assert (r.stable, r.first_failure_frame, r.reason) == (False, 6, "non-finite")
    col = t.copy()
    col[4:, 2] = [0.02, 0, 0]  # bead 2 onto bead 0 (non-bonded)
    r = rollout_stability(col, bonds)
    assert (r.first_failure_frame, r.reason) == (4, "collision")
    stretched = t.copy()
    stretched[3:, 2, 0] = 5.0
    r = rollout_stability(stretched, bonds, max_bond_length=1.0)
    assert (r.first_failure_frame, r.reason) == (3, "bond")


def test_fes_identical_and_shifted():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(20_000, 2))
    cmp = compare_free_energy_surfaces(a, a, bins=30)
    assert cmp.js == 0.0 and max(cmp.js_1d) == 0.0
    f, counts, xe, ye = free_energy_surface(a, bins=30)
    assert np.nanmin(f) == 0.0 and counts.sum() == len(a) and len(xe) == 31
    shifted = compare_free_energy_surfaces(a + [3.0, 0.0], a, bins=30)
    assert shifted.js > 0.5 and shifted.js_1d[0] > 0.5 and shifted.js_1d[1] < 0.05


def test_tica_finds_slow_coordinate():
    from scipy.signal import lfilter

    rng = np.random.default_rng(3)
    n = 20_000
    slow = lfilter([1], [1, -0.99], rng.normal(size=n) * np.sqrt(1 - 0.99**2))
    fast = rng.normal(size=(n, 3))
    feats = np.column_stack([slow + fast[:, 0], fast[:, 1] - slow, fast[:, 2]])
    model = fit_tica([feats], lagtime=10, dim=1)
    proj = model.transform(feats)[:, 0]
    # the best linear estimate of the slow signal is f0 - f1 (= 2 slow + noise, corr 0.816)
    assert abs(np.corrcoef(proj, feats[:, 0] - feats[:, 1])[0, 1]) > 0.99
    assert abs(np.corrcoef(proj, slow)[0, 1]) > 0.8


def test_distance_features_and_pairs():
    pairs = select_distance_pairs(10, max_pairs=1000, min_separation=2)
    assert len(pairs) == 36 and np.all(pairs[:, 1] - pairs[:, 0] >= 2)
    assert len(select_distance_pairs(100, max_pairs=50)) == 50
    x = np.zeros((2, 3, 3))
    x[:, 2, 0] = [1.0, 2.0]
    np.testing.assert_allclose(distance_features(x, [[0, 2]]), [[1.0], [2.0]])


@pytest.mark.parametrize("box", [None, [3.5, 3.5, 3.5]])
def test_colliding_beads_matches_brute_force(box):
    """The fast squared-distance search gives what explicit |r_i - r_j| < threshold gives,
    far from the origin, with blown-up (inf/NaN) beads, with and without a periodic box."""
    from openmm_cgml.analysis import colliding_beads
    from openmm_cgml.analysis.collisions import excluded_pairs

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3, size=(50, 40, 3)) + (50.0 if box is None else 0.0)
    x[5, 3] = np.inf
    x[7, 4] = np.nan
    bonds = np.stack([np.arange(39), np.arange(1, 40)], 1)
    with np.errstate(invalid="ignore"):
        d = x[:, :, None] - x[:, None]
        if box is not None:
            d = d - np.asarray(box) * np.round(d / np.asarray(box))
        close = (np.linalg.norm(d, axis=-1) < 0.3) & ~excluded_pairs(bonds, 40, 1)
    expected = close.any(-1) | ~np.isfinite(x).all(-1)
    got = colliding_beads(x, 0.3, bonds, box=box)
    assert expected.sum() > 40  # the frames do have collisions to find
    np.testing.assert_array_equal(got, expected)
    # a small molecule takes the dense search
    small = (close[:, :12, :12].any(-1) | ~np.isfinite(x[:, :12]).all(-1))
    np.testing.assert_array_equal(colliding_beads(x[:, :12], 0.3, bonds[:11], box=box), small)
    # per-type-pair thresholds; a frame with no finite bead at all
    types = np.arange(40) % 3
    th = np.array([[0.3, 0.2, 0.25], [0.2, 0.1, 0.35], [0.25, 0.35, 0.3]])
    x[9] = np.nan
    with np.errstate(invalid="ignore"):
        d = x[:, :, None] - x[:, None]
        if box is not None:
            d = d - np.asarray(box) * np.round(d / np.asarray(box))
        close = (np.linalg.norm(d, axis=-1) < th[types][:, types]) & ~excluded_pairs(bonds, 40, 1)
    expected = close.any(-1) | ~np.isfinite(x).all(-1)
    np.testing.assert_array_equal(colliding_beads(x, th, bonds, bead_types=types, box=box),
                                  expected)


def test_colliding_beads_in_blocks_of_frames():
    """The open-boundary search (a k-d tree over a block of frames laid side by side) gives the
    same answer whatever the block size: no pair is found across two frames, even when the
    frames overlap in space and sit far from the origin."""
    from openmm_cgml.analysis.collisions import _colliding_open, excluded_pairs

    rng = np.random.default_rng(2)
    x = rng.normal(1e3, 0.4, size=(30, 25, 3))
    fin = np.isfinite(x).all(-1)
    excl = excluded_pairs(np.stack([np.arange(24), np.arange(1, 25)], 1), 25, 1)
    th = np.full((25, 25), 0.15)
    whole = _colliding_open(x, fin, th, excl)
    d = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1)
    np.testing.assert_array_equal(whole, ((d < 0.15) & ~excl).any(-1))
    assert 0 < whole.sum() < whole.size
    for budget in (25, 60, 400):  # 1, 2 and 16 frames per tree
        np.testing.assert_array_equal(_colliding_open(x, fin, th, excl, budget=budget), whole)
    # a far-flung (finite) bead makes the frames' shifts huge: a pair just inside the threshold
    # is still found, one just outside is not
    far = rng.normal(0.0, 5.0, size=(3000, 25, 3)) * np.arange(1, 26)[:, None]
    far[:, 0] = 1e4
    far[:, 7] = far[:, 12] + [0.15 * (1 - 1e-9), 0.0, 0.0]
    far[:, 17] = far[:, 20] + [0.0, 0.15 * (1 + 1e-7), 0.0]
    hits = _colliding_open(far, np.isfinite(far).all(-1), th, excl)
    assert hits[:, [7, 12]].all() and not hits[:, [17, 20]].any()


def test_r2_noise_ceiling_closed_form_and_simulation():
    """References 1..4 (sum of squares 5) with errors 0.5: a perfect prediction is expected to
    score 1 - 4 * 0.25 / 5 = 0.8, and 0.6 when it carries errors of 0.5 too; a simulation of
    noisy references scored against the truth agrees."""
    ref = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_noise_ceiling(ref, np.full(4, 0.5)) == pytest.approx(0.8)
    assert r2_noise_ceiling(ref, np.full(4, 0.5), np.full(4, 0.5)) == pytest.approx(0.6)
    assert r2_noise_ceiling(ref, np.zeros(4)) == 1.0
    rng = np.random.default_rng(0)
    truth = rng.uniform(50, 400, size=40)  # ps, like relaxation times
    err = 0.3 * truth  # 30 % relative error of each estimate
    scores, ceilings = [], []
    for _ in range(400):
        noisy = truth + err * rng.standard_normal(40)
        scores.append(r2_score(truth, noisy))
        ceilings.append(r2_noise_ceiling(noisy, err))
    assert np.mean(scores) == pytest.approx(np.mean(ceilings), abs=0.05)
    assert np.mean(scores) < 0.85  # noise alone costs a perfect model a lot of r^2
    with pytest.raises(ValueError, match="reference_stderr"):
        r2_noise_ceiling(ref, np.ones(3))
    with pytest.raises(ValueError, match="constant"):
        r2_noise_ceiling(np.ones(4), np.ones(4))


def test_r2_interval_bootstrap():
    x = np.linspace(0.0, 1.0, 20)
    assert r2_interval(x, x) == (1.0, 1.0)
    rng = np.random.default_rng(1)
    ref = rng.normal(size=40)
    pred = ref + 0.5 * rng.normal(size=40)
    lo, hi = r2_interval(pred, ref, seed=3)
    assert lo < r2_score(pred, ref) < hi
    assert r2_interval(pred, ref, seed=3) == (lo, hi)  # seeded
    lo8, hi8 = r2_interval(pred[:8], ref[:8], seed=3)
    assert hi8 - lo8 > hi - lo  # fewer systems, wider interval
    lo50, hi50 = r2_interval(pred, ref, level=0.5, seed=3)
    assert lo <= lo50 < hi50 <= hi
    with pytest.raises(ValueError, match="at least 3"):
        r2_interval(x[:2], x[:2])
