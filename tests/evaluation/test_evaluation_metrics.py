"""Evaluation stage (a): metrics, report and `cgml evaluate --cg` on synthetic bead trajectories.

Synthetic molecules: chains whose bond vectors follow an Ornstein-Uhlenbeck process
(``b' = phi b + sqrt(1 - phi^2) s eps``), so the size (``s``) and the Rg^2 relaxation time
(``phi``) are set per molecule and known to differ between molecules.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import lfilter

from openmm_cgml.evaluation import (
    EvaluationSettings,
    Trajectories,
    evaluate_sets,
    load_trajectories,
    run_evaluation,
)

N_BEADS = 8


def ou_chain(n_frames: int, bond_nm: float, tau_frames: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phi = np.exp(-1.0 / tau_frames)
    e = rng.normal(size=(n_frames, N_BEADS - 1, 3)) * np.sqrt(1 - phi**2) * bond_nm / np.sqrt(3)
    e[0] = rng.normal(size=(N_BEADS - 1, 3)) * bond_nm / np.sqrt(3)
    b = lfilter([1.0], [1.0, -phi], e, axis=0)
    x = np.concatenate([np.zeros((n_frames, 1, 3)), np.cumsum(b, axis=1)], axis=1)
    # a minimum distance keeps the chain collision-free (push beads apart along x)
    x[..., 0] += np.arange(N_BEADS) * 0.15
    return x


SYSTEMS = {"m0": (0.3, 4.0), "m1": (0.45, 10.0), "m2": (0.6, 25.0), "m3": (0.38, 60.0)}


def make_set(seed: int, runs: int, n_frames: int, distort: float = 1.0) -> dict[str, Trajectories]:
    out = {}
    bonds = np.stack([np.arange(N_BEADS - 1), np.arange(1, N_BEADS)], axis=1)
    for i, (name, (s, tau)) in enumerate(SYSTEMS.items()):
        r = [ou_chain(n_frames, s * distort, tau, seed * 100 + i * 10 + j) for j in range(runs)]
        out[name] = Trajectories(
            name=name,
            runs=r,
            dt_ps=2.0,
            masses=np.full(N_BEADS, 100.0),
            bonds=bonds,
            kind="polymer",
        )
    return out


@pytest.fixture(scope="module")
def reference():
    return make_set(seed=1, runs=1, n_frames=20000)


def test_matching_sets_score_high(reference):
    cg = make_set(seed=2, runs=3, n_frames=8000)
    metrics, arts = evaluate_sets(cg, reference, EvaluationSettings(tica_lag_frames=5))
    agg = metrics["aggregate"]
    assert agg["num_systems"] == 4
    assert agg["rg_mean"]["r2"] > 0.9
    assert agg["rg2_tau"]["r2"] > 0.7
    assert 0.0 <= agg["collision_rate"] < 0.05
    for name in SYSTEMS:
        cmp = metrics["systems"][name]["comparison"]
        assert cmp["rg_js"] < 0.1
        assert cmp["fes_js"] < 0.2
        assert metrics["systems"][name]["reference"]["rg2_tau_converged"]
    # tau in ps: about the OU time of Rg^2 (same order as tau_frames * dt)
    t = [metrics["systems"][n]["reference"]["rg2_tau_ps"] for n in ("m0", "m2")]
    assert t[0] < t[1]
    assert agg["rg2_tau_converged_refs"] == agg["rg2_tau"]  # every reference converged
    tau = agg["rg2_tau"]
    assert tau["r2_ci95"][0] <= tau["r2"] <= tau["r2_ci95"][1]
    # both taus are estimates with errors: even exact ones would not score 1
    assert tau["r2_ceiling"] < tau["r2_ceiling_reference_only"] < 1.0
    json.dumps(metrics)  # JSON-able


def test_tau_score_over_converged_references_only():
    """aggregate(): the converged-only tau score leaves out molecules whose reference tau did
    not converge (their tau is a lower bound), so it can differ from the score over all."""
    from openmm_cgml.evaluation.metrics import aggregate

    def system(tau_cg, tau_ref, converged):
        return {"cg": {"rg_mean_nm": 1.0, "rg2_tau_ps": tau_cg},
                "reference": {"rg_mean_nm": 1.0, "rg2_tau_ps": tau_ref,
                              "rg2_tau_converged": converged}}

    agg = aggregate({"a": system(10.0, 10.0, True), "b": system(50.0, 50.0, True),
                     "c": system(900.0, 100.0, False)})
    assert agg["rg2_tau_converged_refs"]["n"] == 2
    assert agg["rg2_tau_converged_refs"]["r2"] == pytest.approx(1.0)
    assert agg["rg2_tau"]["n"] == 3 and agg["rg2_tau"]["r2"] < 0
    assert agg["reference_tau_converged_fraction"] == pytest.approx(2 / 3)


def test_distorted_sets_score_low(reference):
    cg = make_set(seed=3, runs=2, n_frames=3000, distort=1.6)
    metrics, _ = evaluate_sets(cg, reference, EvaluationSettings(tica_lag_frames=5))
    agg = metrics["aggregate"]
    assert agg["rg_mean"]["r2"] < 0.5
    assert agg["rg_mean"]["pearson_r2"] > 0.9  # still correlated: r2 is the stricter score
    assert all(metrics["systems"][n]["comparison"]["rg_js"] > 0.15 for n in SYSTEMS)


def test_collisions_and_stability_are_reported(reference):
    cg = make_set(seed=4, runs=2, n_frames=500)
    x = cg["m1"].runs[0]
    x[100:, 5] = x[100:, 2] + 0.001  # non-bonded beads 2 and 5 on top of each other
    cg["m1"].stability = [
        {"stable": False, "steps_checked": 500, "collided_bead_steps": 800},
        {"stable": True, "steps_checked": 500, "collided_bead_steps": 0},
    ]
    # a tiny threshold: the random chains themselves (almost) never come this close
    metrics, _ = evaluate_sets(cg, reference, EvaluationSettings(collision_threshold_nm=0.005))
    s = metrics["systems"]["m1"]["cg"]
    assert s["collision_rate_stored_frames"] == pytest.approx(400 * 2 / (2 * 500 * N_BEADS))
    assert s["collision_rate"] == pytest.approx(800 / (1000 * N_BEADS))
    assert s["stable_fraction"] == 0.5
    assert metrics["aggregate"]["stable_fraction"] == 0.5
    # close contacts: CG frames closer than the reference's closest non-bonded approach,
    # counted here by brute force over every pair more than one bond apart
    def closest(x):
        d = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1)
        far = np.abs(np.arange(N_BEADS)[:, None] - np.arange(N_BEADS)[None]) > 1
        return d[:, far].min(axis=1)

    ref_min = closest(reference["m1"].runs[0]).min()
    expected = np.mean(np.concatenate([closest(r) for r in cg["m1"].runs]) < ref_min)
    cmp = metrics["systems"]["m1"]["comparison"]
    assert expected >= 0.4  # the 400 frames of the pushed-together beads at least
    assert cmp["close_contact_fraction"] == pytest.approx(expected)
    assert s["closest_nonbonded_min_nm"] == pytest.approx(0.001 * np.sqrt(3), rel=1e-6)
    assert metrics["systems"]["m1"]["reference"]["closest_nonbonded_min_nm"] == \
        pytest.approx(ref_min)
    agg = metrics["aggregate"]
    assert agg["mean_close_contact_fraction"] == pytest.approx(np.mean(
        [metrics["systems"][n]["comparison"]["close_contact_fraction"] for n in SYSTEMS]))


def test_stretched_bonds_are_counted_against_the_longest_reference_bond(reference):
    """The stretched-bond fraction: CG frames with a bond longer than any bond in any
    reference frame, counted here by brute force; the longest bond is over every frame."""
    cg = make_set(seed=6, runs=2, n_frames=3000)
    x = cg["m2"].runs[1]
    ref_longest = max(
        np.linalg.norm(np.diff(r, axis=1), axis=-1).max() for r in reference["m2"].runs
    )
    # stretch the last bond of 300 frames to 1.5x the reference's longest bond
    last = x[2000:2300, -1] - x[2000:2300, -2]
    x[2000:2300, -1] = x[2000:2300, -2] + 1.5 * ref_longest * last / np.linalg.norm(
        last, axis=-1, keepdims=True)
    metrics, _ = evaluate_sets(cg, reference, EvaluationSettings(tica_lag_frames=5))
    for name in SYSTEMS:
        ref_max = max(np.linalg.norm(np.diff(r, axis=1), axis=-1).max()
                      for r in reference[name].runs)
        per_frame = np.concatenate(
            [np.linalg.norm(np.diff(r, axis=1), axis=-1).max(axis=1) for r in cg[name].runs])
        d = metrics["systems"][name]
        assert d["comparison"]["stretched_bond_fraction"] == pytest.approx(
            np.mean(per_frame > ref_max))
        assert d["cg"]["bond_length_max_nm"] == pytest.approx(per_frame.max())
        assert d["reference"]["bond_length_max_nm"] == pytest.approx(ref_max)
    cmp = metrics["systems"]["m2"]["comparison"]
    assert 300 / 6000 <= cmp["stretched_bond_fraction"] < 0.1  # the 300 frames and a tail
    assert metrics["systems"]["m2"]["cg"]["bond_length_max_nm"] == pytest.approx(
        1.5 * ref_longest)
    agg = metrics["aggregate"]
    assert agg["mean_stretched_bond_fraction"] == pytest.approx(np.mean(
        [metrics["systems"][n]["comparison"]["stretched_bond_fraction"] for n in SYSTEMS]))


def test_no_common_molecule_is_a_clear_error(reference):
    cg = {"other": make_set(seed=5, runs=1, n_frames=50)["m0"]}
    with pytest.raises(ValueError, match="no molecule appears in both"):
        evaluate_sets(cg, reference)


def test_report_files(tmp_path, reference):
    cg = make_set(seed=6, runs=2, n_frames=1500)
    metrics = run_evaluation(
        reference, tmp_path, cg=cg, settings=EvaluationSettings(tica_lag_frames=5)
    )
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["aggregate"]["rg_mean"]["r2"] == pytest.approx(
        metrics["aggregate"]["rg_mean"]["r2"]
    )
    report = (tmp_path / "report.md").read_text()
    assert "r^2 of mean Rg" in report and "| m3 |" in report
    for png in (
        "rg_timeseries.png",
        "rg_scatter.png",
        "tau_scatter.png",
        "rg2_acf.png",
        "bonded_distributions.png",
        "fes_m0.png",
        "contacts_m0.png",
    ):
        assert (tmp_path / png).stat().st_size > 1000, png
        assert f"]({png})" in report
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporaries


def _write_files(directory, traj_set, kind="polymer"):
    from openmm_cgml.datasets.synthetic import synthetic_mapping_dict
    from openmm_cgml.reference.storage import append_frames, create_trajectory

    paths = []
    for name, t in traj_set.items():
        mapping = synthetic_mapping_dict(N_BEADS, atoms_per_bead=1)
        mapping["bead_masses"] = t.masses.tolist()
        for j, run in enumerate(t.runs):
            p = directory / f"{name}_{j}.h5"
            create_trajectory(
                p,
                mapping=mapping,
                atom_topology_pdb="",
                attrs={
                    "kind": kind,
                    "name": name,
                    "temperature_K": 300.0,
                    "stride_ps": t.dt_ps,
                    "fine_timestep_ps": 0.01,
                    "seed": j,
                    "forcefield": "synthetic",
                },
            )
            append_frames(p, run, np.arange(len(run)) * t.dt_ps)
            paths.append(p)
    return paths


def test_load_trajectories_groups_runs_by_name(tmp_path):
    src = make_set(seed=7, runs=2, n_frames=40)
    files = _write_files(tmp_path, src)
    loaded = load_trajectories(files)
    assert sorted(loaded) == sorted(SYSTEMS)
    t = loaded["m2"]
    assert len(t.runs) == 2 and t.runs[0].shape == (40, N_BEADS, 3)
    np.testing.assert_allclose(t.runs[1], src["m2"].runs[1], atol=1e-6)
    assert t.dt_ps == 2.0 and len(t.bonds) == N_BEADS - 1
    half = load_trajectories(files[:1], frame_stride=2, max_frames=30)
    assert half["m0"].runs[0].shape[0] == 15 and half["m0"].dt_ps == 4.0


def test_cli_evaluate_cg_files(tmp_path, capsys):
    from openmm_cgml.cli import main

    ref_dir, cg_dir = tmp_path / "ref", tmp_path / "cg"
    ref_dir.mkdir()
    cg_dir.mkdir()
    _write_files(ref_dir, make_set(seed=8, runs=1, n_frames=3000))
    _write_files(cg_dir, make_set(seed=9, runs=2, n_frames=1500))
    out = tmp_path / "out"
    rc = main(["evaluate", str(ref_dir), "--cg", str(cg_dir), "-o", str(out), "--tica-lag", "5"])
    assert rc == 0
    printed = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert "r2(Rg)" in printed
    assert f"r2(ln tau) = {m['aggregate']['rg2_tau_log']['r2']:.3f}" in printed
    assert m["aggregate"]["num_systems"] == 4 and m["aggregate"]["rg_mean"]["r2"] > 0.8
    # bad input: one clear line, exit status 2
    rc = main(["evaluate", str(tmp_path / "nope"), "--cg", str(cg_dir), "-o", str(out)])
    assert rc == 2
    assert "nope" in capsys.readouterr().err


def test_protein_rmsd_and_native_contacts(tmp_path):
    n = 12
    t = np.linspace(0, 3 * np.pi, n)
    native = np.stack([0.5 * np.cos(t), 0.5 * np.sin(t), 0.12 * t], axis=1)  # helix-like, nm
    bonds = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)

    def noisy(scale, frames, seed):
        r = np.random.default_rng(seed)
        return native + r.normal(scale=scale, size=(frames, n, 3))

    kw = dict(dt_ps=1.0, masses=np.full(n, 110.0), bonds=bonds, kind="protein")
    ref = {"p": Trajectories(name="p", runs=[noisy(0.02, 400, 1)], native=native, **kw)}
    good = {"p": Trajectories(name="p", runs=[noisy(0.02, 300, 2)], **kw)}
    bad = {"p": Trajectories(name="p", runs=[noisy(0.15, 300, 3)], **kw)}
    m_good, _ = evaluate_sets(good, ref, EvaluationSettings(tica_lag_frames=2))
    m_bad = run_evaluation(ref, tmp_path, cg=bad, settings=EvaluationSettings(tica_lag_frames=2))
    g, b = m_good["systems"]["p"], m_bad["systems"]["p"]
    assert g["reference"]["rmsd_mean_nm"] < 0.05 and g["reference"]["q_mean"] > 0.95
    assert b["cg"]["rmsd_mean_nm"] > 3 * g["cg"]["rmsd_mean_nm"]
    assert b["cg"]["q_mean"] < g["cg"]["q_mean"]
    assert g["comparison"]["rmsd_js"] < b["comparison"]["rmsd_js"]
    assert (tmp_path / "protein_rmsd_q.png").exists()
    assert "Proteins: structure" in (tmp_path / "report.md").read_text()


def test_stable_fraction_by_steps_follows_each_runs_first_failure():
    """Survival of the strict stability figure over the run: a run that collides or blows up
    at (1-based) step s was stable for s - 1 steps; 10, 100, ... below the longest run and its
    length; runs shorter than a mark without failing are left out there."""
    from openmm_cgml.evaluation.metrics import stable_fraction_by_steps

    def run(collision=-1, blowup=-1, completed=5000):
        return {"first_collision_step": collision, "blowup_step": blowup,
                "steps_completed": completed, "stable": collision < 0 and blowup < 0}

    records = [run(), run(collision=11, completed=11), run(collision=10, completed=5000),
               run(blowup=2000, completed=2000), run(collision=4000, blowup=150, completed=150),
               run(completed=50)]  # the last one: a shorter run, seen only at 10
    got = stable_fraction_by_steps(records)
    assert list(got) == ["10", "100", "1000", "5000"]
    # at 10: every run (the one failing at step 10 was stable for 9 steps only)
    assert got["10"] == 5 / 6
    # at 100: the short run is out; of the other five, two failed by then (steps 10, 11)
    assert got["100"] == 3 / 5
    assert got["1000"] == 2 / 5  # the blow-up at 150 (before its collision) ends one more
    assert got["5000"] == 1 / 5
    assert stable_fraction_by_steps([]) == {}
    # every run failed (one ran on after its collision): the last mark is still the runs'
    # length, where none is stable; with blow-ups only, the latest blow-up step
    failed = [run(collision=7, completed=10), run(blowup=8, completed=7)]
    assert stable_fraction_by_steps(failed) == {"10": 0.0}
    assert stable_fraction_by_steps(failed[1:]) == {"8": 0.0}
    # marks of one's own: at 50 the short run counts (stable), at 3,000 it is left out
    assert stable_fraction_by_steps(records, at=[50, 3000]) == {"50": 4 / 6, "3000": 1 / 5}
    # the run's length is the last mark, and it matches the strict figure for equal runs
    equal = [r for r in records if r["steps_completed"] in (5000,)] + [run(collision=3000)]
    assert stable_fraction_by_steps(equal)["5000"] == np.mean([r["stable"] for r in equal])
