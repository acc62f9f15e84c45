"""Score whole-test-set CPU evaluations against the long GPU reference sets A, B and A+B, with
the by-class split, as ../h200_2026-12-05/analyse.py does. One argument per setting: a
metrics.json (named by its stem), or NAME=seed0.json,seed1.json,... to pool seeds (each
chain's tau and Rg averaged over them):

    python score_all.py metrics_all_l0.316.json metrics_all_l1.0.json
    python score_all.py l1.0_s0+s1=metrics_all_l1.0.json,../polymer_cpu_2026-12-05d/...
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "h200_2026-12-05"))
from analyse import reference_sets, score_setting  # noqa: E402


def main(args: list[str]) -> None:
    for arg in args:
        name, files = arg.split("=", 1) if "=" in arg else (Path(arg).stem, arg)
        paths = [Path(f) for f in files.split(",")]
        names = sorted(json.loads(paths[0].read_text())["systems"])
        score_setting(name, paths, names, reference_sets(names))


if __name__ == "__main__":
    main(sys.argv[1:])
