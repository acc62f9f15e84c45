"""The shipped sampler vs correlated noise + posterior / analytic walk on the 40 test chains,
scored against two independent long reference sets and against both pooled.

Reference set A: ``../h200_2026-12-04/`` (``benchmarks/polymer_long_references.sh``, 8 copies
x 8,000 tau per chain); set B: the same command run again on 2026-12-05 (same seeds and
flags, ``--deterministic``, yet different trajectories: see README). The CG figures of a run
do not depend on the reference (each CG tau / Rg is computed from the CG runs alone), so every
run is scored against A, B and A+B (tau = mean of the two estimates, stderr
sqrt(se_A^2 + se_B^2) / 2, Rg = mean). Run from the repository root:

    python benchmarks/results/h200_2026-12-05/analyse.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OLD = HERE.parent / "h200_2026-12-04" / "metrics"
sys.path.insert(0, str(HERE.parents[2]))
from openmm_cgml import analysis as A  # noqa: E402

RUNS = {  # setting: metrics files (one per seed)
    "shipped (widened, ancestral)": [OLD / "eq.json", OLD / "eq_s1.json", OLD / "eq_s2.json"],
    "shipped, seed 0": [OLD / "eq.json"],
    "--no-widen": [OLD / "eq_nowiden.json", OLD / "eq_nowiden_s1.json",
                   OLD / "eq_nowiden_s2.json"],
    "corr 0.316 + posterior, seed 0": [HERE / "metrics" / "eq_corr_post_s0.json"],
    "corr 0.316 + analytic, seed 0": [HERE / "metrics" / "eq_corr_ana_s0.json"],
}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def reference(doc: dict, names: list[str]) -> dict[str, np.ndarray]:
    s = doc["systems"]
    return {key: np.array([s[n]["reference"][field] for n in names]) for key, field in
            (("tau", "rg2_tau_ps"), ("se", "rg2_tau_stderr_ps"), ("rg", "rg_mean_nm"))}


def scores(tau: np.ndarray, se: np.ndarray, rg: np.ndarray, ref: dict[str, np.ndarray]) -> dict:
    return {"rg_r2": A.r2_score(rg, ref["rg"]),
            "tau_r2": A.r2_score(tau, ref["tau"]),
            "tau_r2_ci95": A.r2_interval(tau, ref["tau"]),
            "tau_r2_ceiling": A.r2_noise_ceiling(ref["tau"], ref["se"], se),
            "ln_tau_r2": A.r2_score(np.log(tau), np.log(ref["tau"])),
            "ln_tau_r2_ci95": A.r2_interval(np.log(tau), np.log(ref["tau"])),
            "tau_ratio_median": float(np.median(tau / ref["tau"])),
            "rg_ratio_median": float(np.median(rg / ref["rg"]))}


def composition_classes(names: list[str]) -> list[str]:
    """Composition class of each test chain (``poly_NNNN``, no suffix) by its f_S1 in
    ``../h200_2026-12-04/summary.json``: coils below 0.2, globules above 0.6, else blocky."""
    f = json.loads((OLD.parent / "summary.json").read_text())["chains"]
    return ["f_S1 < 0.2 (coils)" if f[f"{n}.h5"]["f_S1"] < 0.2
            else "f_S1 > 0.6 (globules)" if f[f"{n}.h5"]["f_S1"] > 0.6
            else "f_S1 0.2-0.6, blocky" for n in names]


def by_class(names: list[str], tau: np.ndarray, rg: np.ndarray,
             ref: dict[str, np.ndarray]) -> dict:
    """CG / reference tau (median) and Rg (mean) per composition class of
    ``../h200_2026-12-04/analyse.py`` (f_S1 of its ``summary.json``)."""
    cls = np.array(composition_classes(names))
    return {c: {"chains": int((cls == c).sum()),
                "tau_ratio_median": float(np.median((tau / ref["tau"])[cls == c])),
                "rg_ratio_mean": float(np.mean((rg / ref["rg"])[cls == c]))}
            for c in sorted(set(cls))}


def reference_sets(names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Reference sets A, B and A+B (tau and Rg the means of the two, stderr
    sqrt(se_A^2 + se_B^2) / 2) of the chains ``names``, each ``{tau, se, rg}`` (ps, ps, nm)."""
    ref_a = reference(load(OLD / "eq.json"), names)
    ref_b = reference(load(HERE / "metrics" / "eq_corr_post_s0.json"), names)
    ref_ab = {"tau": (ref_a["tau"] + ref_b["tau"]) / 2,
              "se": np.sqrt(ref_a["se"] ** 2 + ref_b["se"] ** 2) / 2,
              "rg": (ref_a["rg"] + ref_b["rg"]) / 2}
    return {"A": ref_a, "B": ref_b, "A+B": ref_ab}


def score_setting(setting: str, files: list[Path], names: list[str],
                  refs: dict[str, dict[str, np.ndarray]]) -> dict:
    """Score one setting's metrics files (one per seed; taus and Rg averaged over the seeds)
    against every reference set of ``refs`` and by class against A+B; print and return it."""
    docs = [load(f) for f in files]
    tau = np.array([[d["systems"][n]["cg"]["rg2_tau_ps"] for n in names] for d in docs])
    se = np.array([[d["systems"][n]["cg"]["rg2_tau_stderr_ps"] for n in names]
                   for d in docs])
    rg = np.array([[d["systems"][n]["cg"]["rg_mean_nm"] for n in names] for d in docs])
    tau_p, se_p, rg_p = tau.mean(0), np.sqrt((se**2).sum(0)) / len(docs), rg.mean(0)
    agg = [d["aggregate"] for d in docs]
    records = [x for d in docs for n in names for x in d["systems"][n]["cg"]["stability"]]
    blown = sum(x.get("blowup_step", -1) >= 0 for x in records)
    rollouts = len(records)
    row = {"seeds": len(docs),
           "stable": float(np.mean([a["stable_fraction"] for a in agg])),
           "collision_rate": float(np.mean([a["collision_rate"] for a in agg])),
           "close_contact_fraction": float(np.mean([a.get("mean_close_contact_fraction",
                                                          np.nan) for a in agg])),
           "blown_up": f"{blown} / {rollouts}",
           "by_reference": {k: scores(tau_p, se_p, rg_p, v) for k, v in refs.items()}}
    row["by_class_vs_a_plus_b"] = by_class(names, tau_p, rg_p, refs["A+B"])
    print(f"== {setting} ({len(docs)} seed(s)): stable {row['stable']:.3f}  collisions "
          f"{row['collision_rate']:.1e} per bead-step  close contacts "
          f"{row['close_contact_fraction']:.4f}  blown up {row['blown_up']}")
    for k, s in row["by_reference"].items():
        print(f"   vs {k:<3}: r2 Rg {s['rg_r2']:.3f}  r2 tau {s['tau_r2']:+.3f} "
              f"[{s['tau_r2_ci95'][0]:+.2f}, {s['tau_r2_ci95'][1]:+.2f}]  ceiling "
              f"{s['tau_r2_ceiling']:+.2f}  ln-tau r2 {s['ln_tau_r2']:.3f} "
              f"[{s['ln_tau_r2_ci95'][0]:.2f}, {s['ln_tau_r2_ci95'][1]:.2f}]  median "
              f"tau CG/ref {s['tau_ratio_median']:.2f}  Rg CG/ref {s['rg_ratio_median']:.3f}")
    for cls, c in row["by_class_vs_a_plus_b"].items():
        print(f"   A+B, {cls:<22} {c['chains']:2d} chains: median tau CG/ref "
              f"{c['tau_ratio_median']:.2f}, mean Rg CG/ref {c['rg_ratio_mean']:.3f}")
    return row


def main() -> None:
    names = sorted(load(OLD / "eq.json")["systems"])
    refs = reference_sets(names)
    ref_a, ref_b = refs["A"], refs["B"]
    out: dict = {"reference_b_vs_a": scores(ref_b["tau"], ref_b["se"], ref_b["rg"], ref_a)}
    r = out["reference_b_vs_a"]
    print(f"reference B scored against A (what an exact model with 64,000 tau per chain "
          f"scores): r2 Rg {r['rg_r2']:.3f}  r2 tau {r['tau_r2']:+.3f} "
          f"[{r['tau_r2_ci95'][0]:+.2f}, {r['tau_r2_ci95'][1]:+.2f}]  ln-tau r2 "
          f"{r['ln_tau_r2']:.3f}  median tau B/A {r['tau_ratio_median']:.2f}")
    for setting, files in RUNS.items():
        out[setting] = score_setting(setting, files, names, refs)
    (HERE / "analyse.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
