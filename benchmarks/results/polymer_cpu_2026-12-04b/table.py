"""Table of tail.json (python table.py tail.json)."""
import json
import sys

d = json.load(open(sys.argv[1]))
ref = d.pop("reference")
print("| setting | calls | candidate < 0.1 / 0.2 / 0.3 nm | output < 0.1 / 0.2 / 0.3 nm "
      "| output closest approach, 0.1 % / 1 % / 50 % quantile (nm) |")
print("|---|---:|---|---|---|")
q = ref["quantiles"]
print(f"| reference frames ({ref['frames']}) | | | 0 / 0 / 0 | {q['0.001']:.3f} / {q['0.01']:.3f} "
      f"/ {q['0.5']:.3f} |")
for name, r in d.items():
    c, o = r["candidate"], r["output"]
    oq = o["quantiles"]
    print(f"| `{name}` {r['changes']} | {r['network_calls']} | {c['below_0.1']:.4f} / "
          f"{c['below_0.2']:.3f} / {c['below_0.3']:.3f} | {o['below_0.1']:.4f} / "
          f"{o['below_0.2']:.4f} / {o['below_0.3']:.4f} | {oq['0.001']:.3f} / {oq['0.01']:.3f} / "
          f"{oq['0.5']:.3f} |")
