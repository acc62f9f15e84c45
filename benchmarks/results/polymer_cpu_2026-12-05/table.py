"""Table of tail.json: python table.py tail.json (MSD per step against the reference's; the
fraction of steps whose output has a non-bonded pair below 0.2 / 0.3 nm; the quantiles of the
output's closest non-bonded approach). The candidate columns of the correlated-noise
settings are not shown: tail.py draws the candidate there with independent noise."""
import json
import sys

d = json.load(open(sys.argv[1]))
ref = d.pop("reference")
print("| setting | start of the walk | MSD per step vs reference | output < 0.2 / 0.3 nm "
      "| closest approach 0.1 % / 1 % / 50 % (nm) |")
print("|---|---|---:|---|---|")
q = ref["quantiles"]
print(f"| reference frames ({ref['frames']}), MSD {ref['msd_per_step_nm2']:.3f} nm^2 | | 1.00 "
      f"| 0 / 0 | {q['0.001']:.3f} / {q['0.01']:.3f} / {q['0.5']:.3f} |")
for name, r in d.items():
    o = r["output"]
    oq = o["quantiles"]
    ch = {k: v for k, v in r["changes"].items() if k != "start"}
    true = r["changes"].get("start") == "true" or name.startswith("true")
    start = "true next frame + sigma_1 noise" if true else "sampled candidate"
    msd = r["msd_per_step_nm2"] / ref["msd_per_step_nm2"]
    print(f"| `{name}` {ch or ''} | {start} | {msd:.2f} "
          f"| {o['below_0.2']:.4f} / {o['below_0.3']:.4f} | {oq['0.001']:.3f} / "
          f"{oq['0.01']:.3f} / {oq['0.5']:.3f} |")
