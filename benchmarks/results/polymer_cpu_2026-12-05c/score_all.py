"""Score whole-test-set CPU evaluations (one metrics.json per setting) against the long GPU
reference sets A, B and A+B, with the by-class split, as ../h200_2026-12-05/analyse.py does:

    python score_all.py metrics_all_l0.316.json metrics_all_l1.0.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "h200_2026-12-05"))
from analyse import reference_sets, score_setting  # noqa: E402


def main(files: list[str]) -> None:
    for f in files:
        names = sorted(json.loads(Path(f).read_text())["systems"])
        score_setting(Path(f).stem, [Path(f)], names, reference_sets(names))


if __name__ == "__main__":
    main(sys.argv[1:])
