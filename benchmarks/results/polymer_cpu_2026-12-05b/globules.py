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
sys.path.insert(0, str(HERE.parent / "h200_2026-12-05"))
sys.path.insert(0, str(HERE.parents[2]))
from analyse import reference_sets  # noqa: E402


def main(files: list[str]) -> None:
    for f in files:
        cg = json.loads(Path(f).read_text())["systems"]
        names = sorted(cg)
        ref = reference_sets(names)["A+B"]
        ratios, rg = [], []
        for i, n in enumerate(names):
            tau_ref, rg_ref = ref["tau"][i], ref["rg"][i]
            ratios.append(cg[n]["cg"]["rg2_tau_ps"] / tau_ref)
            rg.append(cg[n]["cg"]["rg_mean_nm"] / rg_ref)
            print(f"{Path(f).stem:<14} {n}: tau CG {cg[n]['cg']['rg2_tau_ps']:7.1f} ps, ref "
                  f"{tau_ref:6.1f} ps, ratio {ratios[-1]:.2f}; Rg ratio {rg[-1]:.3f}")
        print(f"{Path(f).stem:<14} median tau ratio {np.median(ratios):.2f} (range "
              f"{min(ratios):.2f}-{max(ratios):.2f}), mean Rg ratio {np.mean(rg):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
