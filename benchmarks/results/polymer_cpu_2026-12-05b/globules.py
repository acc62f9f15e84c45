"""Rg^2 relaxation time of the 8 globules (f_S1 > 0.6) of the 40 test chains under the default
sampler (correlated noise + posterior walk) and the same with independent noise, against the
long GPU references A and B of ../h200_2026-12-05/ pooled (the references' 20 starting frames
in data/polymer_start are far too short for tau; the CG tau does not depend on them).

    python globules.py metrics_corr.json metrics_indep.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REF = [HERE.parent / "h200_2026-12-04" / "metrics" / "eq.json",
       HERE.parent / "h200_2026-12-05" / "metrics" / "eq_corr_post_s0.json"]


def main(files: list[str]) -> None:
    refs = [json.loads(p.read_text())["systems"] for p in REF]
    for f in files:
        cg = json.loads(Path(f).read_text())["systems"]
        ratios, rg = [], []
        for n in sorted(cg):
            tau_ref = np.mean([r[n]["reference"]["rg2_tau_ps"] for r in refs])
            rg_ref = np.mean([r[n]["reference"]["rg_mean_nm"] for r in refs])
            ratios.append(cg[n]["cg"]["rg2_tau_ps"] / tau_ref)
            rg.append(cg[n]["cg"]["rg_mean_nm"] / rg_ref)
            print(f"{Path(f).stem:<14} {n}: tau CG {cg[n]['cg']['rg2_tau_ps']:7.1f} ps, ref "
                  f"{tau_ref:6.1f} ps, ratio {ratios[-1]:.2f}; Rg ratio {rg[-1]:.3f}")
        print(f"{Path(f).stem:<14} median tau ratio {np.median(ratios):.2f} (range "
              f"{min(ratios):.2f}-{max(ratios):.2f}), mean Rg ratio {np.mean(rg):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
