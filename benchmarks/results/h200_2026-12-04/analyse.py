"""Seed-pooled r^2 of the Rg^2 relaxation time on the long test references of run A.

Reads ``metrics/<model>[_s<seed>].json`` (``cgml evaluate`` outputs of run_a.sh: each one
seed, 4 rollouts x 2,000 steps per chain) and prints, per model, the figures of every seed
and of the seeds pooled: the CG tau of a chain is the mean of its per-seed estimates (each
from 4 runs), its standard error sqrt(sum s_i^2) / n. Reference: 8 copies x 8,000 tau per
chain, one pooled estimate. Run from the repository root:

    python benchmarks/results/h200_2026-12-04/analyse.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
from openmm_cgml import analysis as A  # noqa: E402


def load(name: str) -> dict:
    return json.loads((HERE / "metrics" / f"{name}.json").read_text())


def table(models: dict[str, list[str]]) -> dict:
    out = {}
    for model, runs in models.items():
        docs = [load(r) for r in runs]
        names = sorted(docs[0]["systems"])
        sys0 = docs[0]["systems"]
        ref = np.array([sys0[n]["reference"]["rg2_tau_ps"] for n in names])
        ref_se = np.array([sys0[n]["reference"]["rg2_tau_stderr_ps"] for n in names])
        rg_ref = np.array([sys0[n]["reference"]["rg_mean_nm"] for n in names])
        cg = np.array([[d["systems"][n]["cg"]["rg2_tau_ps"] for n in names] for d in docs])
        cg_se = np.array([[d["systems"][n]["cg"]["rg2_tau_stderr_ps"] for n in names]
                          for d in docs])
        rg_cg = np.array([[d["systems"][n]["cg"]["rg_mean_nm"] for n in names] for d in docs])
        stable = [d["aggregate"]["stable_fraction"] for d in docs]
        per_seed = [
            {"rg_r2": A.r2_score(rg_cg[i], rg_ref), "tau_r2": A.r2_score(cg[i], ref),
             "ln_tau_r2": A.r2_score(np.log(cg[i]), np.log(ref)),
             "tau_r2_ceiling": A.r2_noise_ceiling(ref, ref_se, cg_se[i]),
             "stable": stable[i]}
            for i in range(len(docs))
        ]
        p = cg.mean(0)
        p_se = np.sqrt((cg_se**2).sum(0)) / len(docs)
        pooled = {
            "seeds": len(docs), "rg_r2": A.r2_score(rg_cg.mean(0), rg_ref),
            "tau_r2": A.r2_score(p, ref), "tau_r2_ci95": A.r2_interval(p, ref),
            "tau_r2_ceiling": A.r2_noise_ceiling(ref, ref_se, p_se),
            "tau_r2_ceiling_reference_only": A.r2_noise_ceiling(ref, ref_se),
            "ln_tau_r2": A.r2_score(np.log(p), np.log(ref)),
            "ln_tau_r2_ci95": A.r2_interval(np.log(p), np.log(ref)),
            "tau_mae_ps": float(np.mean(np.abs(p - ref))),
            "tau_ratio_median": float(np.median(p / ref)),
            "stable": float(np.mean(stable)),
        }
        out[model] = {"per_seed": per_seed, "pooled": pooled,
                      "reference_tau_ps": {"min": float(ref.min()), "median": float(np.median(ref)),
                                           "max": float(ref.max()),
                                           "median_rel_stderr": float(np.median(ref_se / ref))},
                      "cg_rel_stderr_median_per_seed": float(np.median(cg_se / cg))}
    return out


def by_class(runs: list[str]) -> dict:
    """Seed-pooled CG / reference ratios of tau and Rg per composition class of the test
    chains: f_S1 below the training range (swollen coils), above it (globules), and inside
    it (blocky patterns, near the coil-globule transition)."""
    summary = json.loads((HERE / "summary.json").read_text())["chains"]
    docs = [load(r) for r in runs]
    groups: dict[str, list[tuple[float, float]]] = {}
    for n in sorted(docs[0]["systems"]):
        f = summary[f"{n}.h5"]["f_S1"]
        cls = ("f_S1 < 0.2 (coils)" if f < 0.2 else "f_S1 > 0.6 (globules)" if f > 0.6
               else "f_S1 0.2-0.6, blocky")
        ref = docs[0]["systems"][n]["reference"]
        tau = np.mean([d["systems"][n]["cg"]["rg2_tau_ps"] for d in docs])
        rg = np.mean([d["systems"][n]["cg"]["rg_mean_nm"] for d in docs])
        groups.setdefault(cls, []).append((tau / ref["rg2_tau_ps"], rg / ref["rg_mean_nm"]))
    return {cls: {"chains": len(v),
                  "tau_ratio_median": float(np.median([t for t, _ in v])),
                  "tau_ratio_range": [float(min(t for t, _ in v)), float(max(t for t, _ in v))],
                  "rg_ratio_mean": float(np.mean([r for _, r in v]))}
            for cls, v in sorted(groups.items())}


def main() -> None:
    models = {"polymer-comb-equivariant": ["eq", "eq_s1", "eq_s2"],
              "polymer-comb-equivariant --no-widen": ["eq_nowiden", "eq_nowiden_s1",
                                                      "eq_nowiden_s2"],
              "polymer-comb": ["plain"]}
    res = table(models)
    for model, r in res.items():
        print(f"== {model}")
        for i, s in enumerate(r["per_seed"]):
            print(f"  seed {i}: r2 Rg {s['rg_r2']:.3f}  r2 tau {s['tau_r2']:+.3f}  ln-tau r2 "
                  f"{s['ln_tau_r2']:.3f}  ceiling {s['tau_r2_ceiling']:+.3f}  "
                  f"stable {s['stable']:.3f}")
        p = r["pooled"]
        print(f"  pooled ({p['seeds']} seeds): r2 Rg {p['rg_r2']:.3f}  r2 tau {p['tau_r2']:+.3f} "
              f"[{p['tau_r2_ci95'][0]:+.2f}, {p['tau_r2_ci95'][1]:+.2f}]  ceiling "
              f"{p['tau_r2_ceiling']:+.3f} "
              f"(reference only {p['tau_r2_ceiling_reference_only']:.3f})"
              f"  ln-tau r2 {p['ln_tau_r2']:.3f} [{p['ln_tau_r2_ci95'][0]:.2f}, "
              f"{p['ln_tau_r2_ci95'][1]:.2f}]  MAE tau {p['tau_mae_ps']:.0f} ps  median CG/ref "
              f"{p['tau_ratio_median']:.2f}  stable {p['stable']:.3f}")
        print(f"  reference tau {r['reference_tau_ps']}; CG rel. stderr per seed (median) "
              f"{r['cg_rel_stderr_median_per_seed']:.2f}")
    for model, runs in models.items():
        classes = by_class(runs)
        print(f"== {model} by composition class (seeds pooled; CG / reference)")
        for cls, c in classes.items():
            print(f"  {cls:<22} {c['chains']:2d} chains: tau ratio median "
                  f"{c['tau_ratio_median']:.2f} (range {c['tau_ratio_range'][0]:.2f}-"
                  f"{c['tau_ratio_range'][1]:.2f}), Rg ratio {c['rg_ratio_mean']:.3f}")
        res[model]["by_class"] = classes
    (HERE / "pooled.json").write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
