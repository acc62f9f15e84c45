"""Table of run C: the four sampler settings of polymer-comb-equivariant on the 20 val chains.

    cd benchmarks/results/h200_2026-12-04b && python analyse_val.py val
"""
import json
import sys
from pathlib import Path

import numpy as np

root = Path(sys.argv[1])
print("| setting | r^2 Rg [95 %] | r^2 tau | r^2 ln tau | MAE tau ps | median tau CG/ref | "
      "median Rg CG/ref | max CG bond nm | collisions per bead-step | stable | blow-ups |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in ("shipped", "nw", "nw06", "nw10"):
    m = json.loads((root / f"{k}.json").read_text())
    a = m["aggregate"]
    st = [s for v in m["systems"].values() for s in v["cg"]["stability"]]
    tr = [v["comparison"]["rg2_tau_ratio"] for v in m["systems"].values()]
    rr = [v["cg"]["rg_mean_nm"] / v["reference"]["rg_mean_nm"] for v in m["systems"].values()]
    bmax = max(v["cg"]["bond_length_max_nm"] for v in m["systems"].values())
    lo, hi = a["rg_mean"]["r2_ci95"]
    print(f"| {k} | {a['rg_mean']['r2']:.3f} [{lo:.2f}, {hi:.2f}] | {a['rg2_tau']['r2']:.3f} | "
          f"{a['rg2_tau_log']['r2']:.3f} | {a['rg2_tau']['mae']:.0f} | {np.median(tr):.2f} | "
          f"{np.median(rr):.3f} | {bmax:.2f} | {a['collision_rate']:.1e} | "
          f"{a['stable_fraction']:.3f} | {sum(s['blowup_step'] >= 0 for s in st)} / {len(st)} |")
