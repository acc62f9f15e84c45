"""Score whole-test-set CPU evaluations pooled over seeds (each chain's tau and Rg averaged
over the seeds' metrics files) against the long GPU reference sets A, B and A+B, with the
by-class split, as ../h200_2026-12-05/analyse.py does. One argument per setting:

    python score_seeds.py NAME=seed0.json,seed1.json ...
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
        name, files = arg.split("=", 1)
        paths = [Path(f) for f in files.split(",")]
        names = sorted(json.loads(paths[0].read_text())["systems"])
        score_setting(name, paths, names, reference_sets(names))


if __name__ == "__main__":
    main(sys.argv[1:])
