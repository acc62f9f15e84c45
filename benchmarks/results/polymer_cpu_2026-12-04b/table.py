"""Tables of tail.py's JSON.

    python table.py tail.json          # candidate and output tails (2026-12-04b)
    python table.py tail.json --msd    # output tail, MSD per step, where the walk started

``--msd`` (../polymer_cpu_2026-12-05/): the mean squared bead displacement per step against the
reference's; the fraction of steps whose output has a non-bonded pair below 0.2 / 0.3 nm; the
quantiles of the output's closest non-bonded approach. Its candidate columns are left out:
tail.py draws the candidate with independent noise, also for the correlated-noise settings.
"""
import json
import sys

d = json.load(open(sys.argv[1]))
msd = "--msd" in sys.argv[2:]
ref = d.pop("reference")
q = ref["quantiles"]
if msd:
    print("| setting | start of the walk | MSD per step vs reference | output < 0.2 / 0.3 nm "
          "| closest approach 0.1 % / 1 % / 50 % (nm) |")
    print("|---|---|---:|---|---|")
    print(f"| reference frames ({ref['frames']}), MSD {ref['msd_per_step_nm2']:.3f} nm^2 | | "
          f"1.00 | 0 / 0 | {q['0.001']:.3f} / {q['0.01']:.3f} / {q['0.5']:.3f} |")
else:
    print("| setting | calls | candidate < 0.1 / 0.2 / 0.3 nm | output < 0.1 / 0.2 / 0.3 nm "
          "| output closest approach, 0.1 % / 1 % / 50 % quantile (nm) |")
    print("|---|---:|---|---|---|")
    print(f"| reference frames ({ref['frames']}) | | | 0 / 0 / 0 | {q['0.001']:.3f} / "
          f"{q['0.01']:.3f} / {q['0.5']:.3f} |")
for name, r in d.items():
    o = r["output"]
    oq = o["quantiles"]
    if msd:
        ch = {k: v for k, v in r["changes"].items() if k != "start"}
        true = r["changes"].get("start") == "true" or name.startswith("true")
        start = "true next frame + sigma_1 noise" if true else "sampled candidate"
        ratio = r["msd_per_step_nm2"] / ref["msd_per_step_nm2"]
        print(f"| `{name}` {ch or ''} | {start} | {ratio:.2f} | {o['below_0.2']:.4f} / "
              f"{o['below_0.3']:.4f} | {oq['0.001']:.3f} / {oq['0.01']:.3f} / "
              f"{oq['0.5']:.3f} |")
        continue
    c = r["candidate"]
    print(f"| `{name}` {r['changes']} | {r['network_calls']} | {c['below_0.1']:.4f} / "
          f"{c['below_0.2']:.3f} / {c['below_0.3']:.3f} | {o['below_0.1']:.4f} / "
          f"{o['below_0.2']:.4f} / {o['below_0.3']:.4f} | {oq['0.001']:.3f} / {oq['0.01']:.3f} / "
          f"{oq['0.5']:.3f} |")
