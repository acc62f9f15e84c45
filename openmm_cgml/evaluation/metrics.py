"""Metrics from bead trajectories: per molecule, CG vs reference, and across molecules.

This part needs no model: it compares any two sets of bead trajectories (e.g. reference MD
vs CG rollouts, or two reference runs). Definitions (all stated in the report too):

* **Rg**: mass-weighted radius of gyration of the beads (nm), averaged over all frames of
  all runs (after ``discard_frames``).
* **Rg^2 relaxation time** (ps): relaxation time of the Rg^2 series
  (:func:`openmm_cgml.analysis.relaxation_time`; default: integrated ACF with Sokal's window
  c = 5; the ACF is averaged over the runs of a molecule). Also the exponential-fit estimate.
* **collision rate**: fraction of bead-steps where a bead has a non-bonded partner closer than
  ``collision_threshold_nm`` (0.1 nm). For rollouts it is measured on every model step (the
  rollout stores it); otherwise on the stored frames.
* **closest non-bonded approach** (nm): per stored frame, the distance of the closest
  non-bonded pair (:func:`openmm_cgml.analysis.closest_nonbonded_distance`); its minimum and
  1 % quantile per molecule, and the **close-contact fraction**: the fraction of CG frames
  closer than the closest approach in any reference frame (the reference never goes there).
  It resolves excluded volume with a few thousand frames, where collisions are rare events.
* **stretched-bond fraction**: the fraction of CG frames with a bond longer than the longest
  bond in any reference frame, the bonded counterpart of the close-contact fraction: it
  resolves the tail that rare blow-ups (a bond beyond 2x the longest reference bond) come
  from. Both fractions grow with a shorter reference (fewer frames set its extremes).
* **stable**: a rollout that finished all its steps without a collision or a blow-up; the
  fraction still stable after 10, 100, ... steps counts a rollout that failed at step ``s``
  as stable for ``s - 1`` steps (:func:`stable_fraction_by_steps`).
* **distributions**: JS divergence (base 2, in [0, 1]) of Rg, bond-length and bond-angle
  histograms; TICA (fitted on the reference, distance features) free-energy surface JS.
* **across molecules**: r^2 (coefficient of determination against the identity line),
  squared Pearson correlation and MAE of mean Rg and of the Rg^2 relaxation time.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from openmm_cgml import analysis as A
from openmm_cgml.evaluation.data import Trajectories

__all__ = [
    "EvaluationSettings",
    "SystemObservables",
    "observe",
    "compare",
    "aggregate",
    "evaluate_sets",
]


@dataclass
class EvaluationSettings:
    """How trajectories are compared (units: nm, ps)."""

    collision_threshold_nm: float = A.DEFAULT_COLLISION_THRESHOLD_NM
    tau_method: str = "integrated"
    tau_window: str = "sokal"
    discard_frames: int = 0
    contact_cutoff_nm: float = 1.0
    rg_bins: int = 50
    dist_bins: int = 60
    tica_lag_frames: int = 10
    tica_max_pairs: int = 300
    fes_bins: int = 30
    max_fes_frames: int = 20_000
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SystemObservables:
    """Observables of one molecule (JSON scalars in ``summary``; arrays for plots)."""

    name: str
    summary: dict[str, Any]
    rg: list[np.ndarray]  # per run [T] nm
    rg2_acf: np.ndarray  # [lags]
    dt_ps: float
    bond_lengths: np.ndarray  # flattened, nm
    bond_angles: np.ndarray  # flattened, rad
    contact_map: np.ndarray  # [N, N]
    extra: dict[str, Any] = field(default_factory=dict)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _sample_rows(x: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    if len(x) <= max_rows:
        return x
    return x[np.sort(rng.choice(len(x), size=max_rows, replace=False))]


def stability_summary(stability: list[dict[str, Any]], num_beads: int) -> dict[str, Any]:
    """``stable_fraction``, ``collision_rate`` (collided bead-steps per checked bead-step, every
    model step counts, recorded or not; ``None`` when no step was checked) and the per-run
    ``stability`` records of :func:`openmm_cgml.evaluation.rollouts.run_units`."""
    steps = np.array([x.get("steps_checked", 0) for x in stability], dtype=np.float64)
    cols = np.array([x.get("collided_bead_steps", 0) for x in stability], dtype=np.float64)
    return {
        "stable_fraction": (float(np.mean([bool(x["stable"]) for x in stability]))
                            if stability else None),
        "collision_rate": (float(cols.sum() / (steps.sum() * num_beads))
                           if steps.sum() > 0 else None),
        "stability": list(stability),
    }


def stable_fraction_by_steps(stability: list[dict[str, Any]],
                             at: list[int] | None = None) -> dict[str, float]:
    """How the strict stability figure falls with the run length: the fraction of rollouts still
    stable (no collision, no blow-up) after ``n`` model steps, for ``n`` in ``at`` (default: 10,
    100, 1,000, ... below the runs' length and that length itself, where the strict figure
    ``stable_fraction`` of runs of one length is read again).

    ``stability``: the per-run records of :func:`openmm_cgml.evaluation.rollouts.run_units`
    (``first_collision_step`` / ``blowup_step``: 1-based model step, -1 if none;
    ``steps_completed``). A run that failed at step ``s`` was stable for ``s - 1`` steps; a run
    that neither failed nor reached ``n`` steps is left out of the fraction at ``n``. Returns
    ``{str(n): fraction}`` in the order of the marks (JSON keys); empty without records.
    """
    ends = []  # (last stable step, failed)
    longest = 0  # the runs' length: the most steps any run completed or failed at
    for x in stability:
        fails = [s for s in (x.get("first_collision_step", -1), x.get("blowup_step", -1))
                 if s is not None and s >= 0]
        done = int(x.get("steps_completed", 0))
        ends.append((min(fails) - 1, True) if fails else (done, False))
        longest = max([longest, done, *fails])
    if longest <= 0:
        return {}
    if at is None:
        at = [*(10**k for k in range(1, int(math.log10(longest)) + 1) if 10**k < longest),
              longest]
    out = {}
    for n in at:
        seen = [last >= n for last, failed in ends if failed or last >= n]
        if seen:
            out[str(n)] = float(np.mean(seen))
    return out


def observe(
    traj: Trajectories,
    settings: EvaluationSettings | None = None,
    native: np.ndarray | None = None,
) -> SystemObservables:
    """Compute the observables of one molecule's runs (see the module docstring).

    For proteins (``kind == "protein"``) also RMSD (nm, after superposition) to ``native``
    (default ``traj.native``) and the fraction of native contacts Q.
    """
    s = settings or EvaluationSettings()
    t = traj.discard(s.discard_frames)
    rng = np.random.default_rng(s.seed)
    finite_runs = [r for r in t.runs if np.isfinite(r).all()]
    bad_runs = len(t.runs) - len(finite_runs)
    runs = finite_runs or [np.nan_to_num(r) for r in t.runs]
    rg = [np.atleast_1d(A.radius_of_gyration(r, t.masses)) for r in runs]
    rg_all = np.concatenate(rg)
    # Rg^2 relaxation: runs of equal length share an ACF; use the longest equal-length group
    lengths = np.array([len(r) for r in rg])
    common = int(np.max(lengths))
    series = np.stack([r**2 for r in rg if len(r) == common])
    tau: dict[str, Any] = {}
    acf = np.ones(1)
    if common >= 8 and np.std(series) > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            est = A.estimate_relaxation_time(
                series, t.dt_ps, method=s.tau_method, window=s.tau_window
            )
            other = "exp_fit" if s.tau_method == "integrated" else "integrated"
            est2 = A.estimate_relaxation_time(series, t.dt_ps, method=other, window=s.tau_window)
        acf = A.autocorrelation(series, max_lag=max(1, common // 2))
        tau = {
            "rg2_tau_ps": est.tau,
            "rg2_tau_stderr_ps": _finite(est.stderr),
            "rg2_tau_converged": est.converged,
            "rg2_tau_window_frames": est.window,
            "rg2_tau_run_lengths_in_tau": est.samples_per_tau,
            f"rg2_tau_{other}_ps": est2.tau,
        }
    else:
        tau = {"rg2_tau_ps": None, "rg2_tau_converged": False}
    # collisions on stored frames
    col_frames = float(
        np.mean(
            [
                A.collision_rate(r, s.collision_threshold_nm, t.bonds, bond_separation=1)
                for r in runs
            ]
        )
    )
    closest = np.concatenate([A.closest_nonbonded_distance(r, t.bonds) for r in runs])
    closest = closest[np.isfinite(closest)]
    # each frame's longest bond (nm), over every stored frame (for the stretched-bond fraction)
    longest = (
        np.concatenate([A.bond_lengths(r, t.bonds).max(axis=-1) for r in runs])
        if len(t.bonds)
        else np.zeros(0)
    )
    longest = longest[np.isfinite(longest)]
    # bonded geometry
    angles_idx = A.angle_triples(t.bonds, t.num_beads)
    sub = [_sample_rows(r, 2000, rng) for r in runs]
    bl = (
        np.concatenate([A.bond_lengths(r, t.bonds).ravel() for r in sub])
        if len(t.bonds)
        else (np.zeros(0))
    )
    ba = (
        np.concatenate([A.bond_angles(r, angles_idx).ravel() for r in sub])
        if len(angles_idx)
        else np.zeros(0)
    )
    cmap = A.contact_map(np.concatenate(sub), cutoff=s.contact_cutoff_nm)
    summary: dict[str, Any] = {
        "num_beads": t.num_beads,
        "num_runs": len(t.runs),
        "num_runs_nonfinite": bad_runs,
        "frames": int(sum(len(r) for r in runs)),
        "frame_spacing_ps": t.dt_ps,
        "simulated_time_ps": float(sum(len(r) for r in runs) * t.dt_ps),
        "rg_mean_nm": float(rg_all.mean()),
        "rg_std_nm": float(rg_all.std()),
        "rg_run_means_nm": [float(r.mean()) for r in rg],
        **tau,
        "collision_rate_stored_frames": col_frames,
    }
    if len(closest):
        summary["closest_nonbonded_min_nm"] = float(closest.min())
        summary["closest_nonbonded_q01_nm"] = float(np.quantile(closest, 0.01))
    if len(bl):
        summary["bond_length_mean_nm"] = float(bl.mean())
    if len(longest):  # over every stored frame, not the histogram's sample
        summary["bond_length_max_nm"] = float(longest.max())
    if traj.stability is not None and all(x is not None for x in traj.stability):
        summary.update(stability_summary(traj.stability, t.num_beads))
    if summary.get("collision_rate") is None:
        summary["collision_rate"] = col_frames
    extra: dict[str, Any] = {"closest_nonbonded_nm": closest, "longest_bond_nm": longest}
    nat = t.native if native is None else native
    if t.kind == "protein" and nat is not None:
        r = np.concatenate(sub)
        extra["rmsd_nm"] = np.atleast_1d(A.rmsd(r, nat, t.masses))
        try:
            extra["q"] = np.atleast_1d(
                A.fraction_native_contacts(r, nat, cutoff=s.contact_cutoff_nm)
            )
            summary["q_mean"] = float(np.mean(extra["q"]))
        except ValueError:
            pass
        summary["rmsd_mean_nm"] = float(np.mean(extra["rmsd_nm"]))
    return SystemObservables(t.name, summary, rg, acf, t.dt_ps, bl, ba, cmap, extra)


def compare(
    cg: Trajectories,
    ref: Trajectories,
    obs_cg: SystemObservables | None = None,
    obs_ref: SystemObservables | None = None,
    settings: EvaluationSettings | None = None,
) -> dict[str, Any]:
    """Distribution-level agreement of one molecule: CG vs reference.

    Returns JSON scalars (JS divergences, contact-map MAE, Rg error, tau ratio) and, under the
    key ``"_fes"``, the :class:`openmm_cgml.analysis.FESComparison` (arrays, for plots).
    """
    s = settings or EvaluationSettings()
    if cg.num_beads != ref.num_beads:
        raise ValueError(
            f"{cg.name}: CG runs have {cg.num_beads} beads but the reference has {ref.num_beads}"
        )
    oc = obs_cg or observe(cg, s)
    orf = obs_ref or observe(ref, s)
    out: dict[str, Any] = {}
    rc, rr = np.concatenate(oc.rg), np.concatenate(orf.rg)
    out["rg_js"] = A.distribution_divergence(rc, rr, bins=s.rg_bins)
    out["rg_mean_error_nm"] = float(rc.mean() - rr.mean())
    if len(oc.bond_lengths) and len(orf.bond_lengths):
        out["bond_length_js"] = A.distribution_divergence(
            oc.bond_lengths, orf.bond_lengths, bins=s.dist_bins
        )
    if len(oc.bond_angles) and len(orf.bond_angles):
        out["bond_angle_js"] = A.distribution_divergence(
            oc.bond_angles, orf.bond_angles, bins=s.dist_bins, range=(0.0, math.pi)
        )
    out["contact_map_mae"] = float(np.mean(np.abs(oc.contact_map - orf.contact_map)))
    cc, cr = oc.extra.get("closest_nonbonded_nm"), orf.extra.get("closest_nonbonded_nm")
    if cc is not None and cr is not None and len(cc) and len(cr):
        out["close_contact_fraction"] = float(np.mean(cc < cr.min()))
    lc, lr = oc.extra.get("longest_bond_nm"), orf.extra.get("longest_bond_nm")
    if lc is not None and lr is not None and len(lc) and len(lr):
        out["stretched_bond_fraction"] = float(np.mean(lc > lr.max()))
    tc, tr = oc.summary.get("rg2_tau_ps"), orf.summary.get("rg2_tau_ps")
    if tc and tr:
        out["rg2_tau_ratio"] = float(tc / tr)
    # TICA free-energy surface (fitted on the reference)
    rng = np.random.default_rng(s.seed)
    try:
        pairs = A.select_distance_pairs(
            ref.num_beads, max_pairs=s.tica_max_pairs, min_separation=2, seed=s.seed
        )
        ref_runs = ref.discard(s.discard_frames).runs
        cg_runs = [r for r in cg.discard(s.discard_frames).runs if np.isfinite(r).all()]
        lag = max(1, min(s.tica_lag_frames, min(len(r) for r in ref_runs) // 4))
        feats_ref = [A.distance_features(r, pairs) for r in ref_runs]
        model = A.fit_tica(feats_ref, lagtime=lag, dim=2)
        p_ref = np.concatenate([model.transform(f) for f in feats_ref])
        p_cg = np.concatenate([model.transform(A.distance_features(r, pairs)) for r in cg_runs])
        if p_ref.shape[1] >= 2 and len(p_cg):
            fes = A.compare_free_energy_surfaces(
                _sample_rows(p_cg, s.max_fes_frames, rng),
                _sample_rows(p_ref, s.max_fes_frames, rng),
                bins=s.fes_bins,
            )
            out["fes_js"] = fes.js
            out["fes_js_tic1"], out["fes_js_tic2"] = fes.js_1d
            out["tica_lag_frames"] = lag
            out["_fes"] = fes
    except (ValueError, np.linalg.LinAlgError) as exc:
        out["fes_error"] = str(exc)
    if "q" in oc.extra and "q" in orf.extra:
        out["q_js"] = A.distribution_divergence(oc.extra["q"], orf.extra["q"], range=(0.0, 1.0))
    if "rmsd_nm" in oc.extra and "rmsd_nm" in orf.extra:
        out["rmsd_js"] = A.distribution_divergence(oc.extra["rmsd_nm"], orf.extra["rmsd_nm"])
    return out


def _score(pred: list[float], ref: list[float], pred_err: list[float] | None = None,
           ref_err: list[float] | None = None) -> dict[str, Any]:
    """MAE, r^2 (with its bootstrap 95 % interval over the systems) and Pearson r^2; with the
    standard errors of both sides also ``r2_ceiling`` (:func:`A.r2_noise_ceiling`)."""
    p = np.asarray(pred, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(r)
    p, r = p[ok], r[ok]
    res: dict[str, Any] = {"n": int(ok.sum())}
    if len(p) >= 1:
        res["mae"] = A.mae(p, r)
        res["mean_relative_error"] = float(np.mean(np.abs(p - r) / np.abs(r)))
    if len(p) >= 2 and np.std(r) > 0:
        res["r2"] = A.r2_score(p, r)
        if np.std(p) > 0:
            res["pearson_r2"] = A.pearson_r2(p, r)
        if len(p) >= 3:
            res["r2_ci95"] = list(A.r2_interval(p, r))
        if pred_err is not None and ref_err is not None:
            pe = np.asarray(pred_err, dtype=np.float64)[ok]
            re = np.asarray(ref_err, dtype=np.float64)[ok]
            if np.all(np.isfinite(pe)) and np.all(np.isfinite(re)):
                res["r2_ceiling"] = A.r2_noise_ceiling(r, re, pe)
                res["r2_ceiling_reference_only"] = A.r2_noise_ceiling(r, re)
    return res


def aggregate(systems: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Scores across molecules from ``{name: {"cg": summary, "reference": summary}}``.

    r^2 (coefficient of determination, CG predicting the reference, identity line; with
    ``r2_ci95``, its bootstrap interval over the molecules), squared Pearson r and MAE of
    mean Rg (nm) and of the Rg^2 relaxation time (ps; also of ln tau, and over the
    molecules whose reference tau converged only). For tau also ``r2_ceiling``: the r^2
    that the exact relaxation times would be expected to score given the statistical
    errors of both estimates (``r2_ceiling_reference_only``: of the reference's); mean
    collision rate;
    fraction of stable rollouts over all rollouts; means of the per-molecule comparisons
    (``mean_<key>``, e.g. ``mean_close_contact_fraction``).
    """
    names = sorted(systems)

    def _get(d: dict[str, Any], key: str) -> float:
        v = d.get(key)
        return float(v) if v is not None else math.nan

    rg_p = [_get(systems[n]["cg"], "rg_mean_nm") for n in names]
    rg_r = [_get(systems[n]["reference"], "rg_mean_nm") for n in names]
    tau_p = [_get(systems[n]["cg"], "rg2_tau_ps") for n in names]
    tau_r = [_get(systems[n]["reference"], "rg2_tau_ps") for n in names]
    err_p = [_get(systems[n]["cg"], "rg2_tau_stderr_ps") for n in names]
    err_r = [_get(systems[n]["reference"], "rg2_tau_stderr_ps") for n in names]
    converged = {n: bool(systems[n]["reference"].get("rg2_tau_converged")) for n in names}
    cols = [systems[n]["cg"].get("collision_rate") for n in names]
    cols = [c for c in cols if c is not None]
    out: dict[str, Any] = {
        "num_systems": len(names),
        "rg_mean": {**_score(rg_p, rg_r), "unit": "nm"},
        "rg2_tau": {**_score(tau_p, tau_r, err_p, err_r), "unit": "ps"},
        "rg2_tau_log": {**_score(np.log(tau_p).tolist(), np.log(tau_r).tolist()), "unit": "ln ps"},
        # only molecules whose reference tau converged (a reference shorter than ~100 tau
        # under-estimates long relaxation times, which can hide a CG model that is too slow)
        "rg2_tau_converged_refs": {**_score(
            *([x for x, n in zip(col, names, strict=True) if converged[n]]
              for col in (tau_p, tau_r, err_p, err_r))), "unit": "ps"},
        "reference_tau_converged_fraction": float(np.mean([converged[n] for n in names]))
        if names
        else None,
        "collision_rate": float(np.mean(cols)) if cols else None,
        "molecules_without_model_frames": sorted(
            n for n in names if systems[n]["cg"].get("no_model_frames")
        ),
    }
    records = [
        x for n in names for x in (systems[n]["cg"].get("stability") or []) if x is not None
    ]

    def fraction(ok: list[bool]) -> float | None:
        return float(np.mean(ok)) if ok else None

    # the strict figure (no collision and no blow-up), and its two parts
    out["stable_fraction"] = fraction([bool(x["stable"]) for x in records])
    out["blowup_free_fraction"] = fraction([x.get("blowup_step", -1) < 0 for x in records])
    out["collision_free_fraction"] = fraction(
        [x.get("first_collision_step", -1) < 0 for x in records]
    )
    out["num_rollouts"] = len(records)
    out["stable_fraction_by_steps"] = stable_fraction_by_steps(records)
    for key in (
        "rg_js",
        "bond_length_js",
        "bond_angle_js",
        "fes_js",
        "contact_map_mae",
        "close_contact_fraction",
        "stretched_bond_fraction",
        "rmsd_js",
        "q_js",
    ):
        vals = [systems[n]["comparison"].get(key) for n in names if "comparison" in systems[n]]
        vals = [v for v in vals if v is not None]
        if vals:
            out[f"mean_{key}"] = float(np.mean(vals))
    return out


def evaluate_sets(
    cg: dict[str, Trajectories],
    reference: dict[str, Trajectories],
    settings: EvaluationSettings | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compare CG and reference trajectories of the molecules present in both.

    Returns ``(metrics, artefacts)``: ``metrics`` is JSON-able (``settings``, ``systems``,
    ``aggregate``, ``missing``); ``artefacts`` holds the arrays for plots
    (``{name: {"cg": SystemObservables, "reference": ..., "fes": FESComparison}}``).
    """
    s = settings or EvaluationSettings()
    common = sorted(set(cg) & set(reference))
    if not common:
        raise ValueError(
            "no molecule appears in both the CG and the reference sets "
            f"(CG: {sorted(cg)[:5]}, reference: {sorted(reference)[:5]}); names come from the "
            "files' 'name' attribute"
        )
    systems: dict[str, dict[str, Any]] = {}
    arts: dict[str, Any] = {}
    for name in common:
        native = reference[name].native
        if cg[name].attrs.get("no_model_frames"):
            # every rollout failed before its first step: nothing to analyse but stability
            orf = observe(reference[name], s, native)
            st = [x for x in (cg[name].stability or []) if x is not None]
            systems[name] = {
                "cg": {
                    "num_runs": len(st),
                    "no_model_frames": True,
                    "rg_mean_nm": None,
                    "rg2_tau_ps": None,
                    **stability_summary(st, reference[name].num_beads),
                },
                "reference": orf.summary,
                "comparison": {},
                "composition": reference[name].attrs.get("composition"),
            }
            continue
        oc = observe(cg[name], s, native)
        orf = observe(reference[name], s, native)
        cmp = compare(cg[name], reference[name], oc, orf, s)
        fes = cmp.pop("_fes", None)
        systems[name] = {
            "cg": oc.summary,
            "reference": orf.summary,
            "comparison": cmp,
            "composition": reference[name].attrs.get("composition"),
        }
        arts[name] = {"cg": oc, "reference": orf, "fes": fes}
    metrics = {
        "settings": s.to_dict(),
        "systems": systems,
        "aggregate": aggregate(systems),
        "missing": {
            "only_cg": sorted(set(cg) - set(reference)),
            "only_reference": sorted(set(reference) - set(cg)),
        },
    }
    return metrics, arts
