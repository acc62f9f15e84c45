"""benchmarks/paper_polymer.py end to end (smallest settings): data, training, rollouts, table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_paper_polymer_quick_smallest(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "paper_polymer", ROOT / "benchmarks" / "paper_polymer.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "res.json"
    rc = mod.main(
        [
            "--quick",
            "--work",
            str(tmp_path / "w"),
            "--train-steps",
            "3",
            "--steps",
            "10",
            "--replicas",
            "1",
            "--variants",
            "full,no_refinement",
            "--jobs",
            "2",
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res["rows"]) == {"full", "no_refinement"}
    for row in res["rows"].values():
        assert row["rollouts"] == len(res["settings"]["test_chains"])
        assert row["speedup_single_chain"] > 0 and row["speedup_batched"] > 0
        assert Path(row["report"]).is_file()
    assert res["reference_md"]["single_ps_per_s"] > 0
    # --jobs 2: each variant was evaluated in its own process
    assert {p.name for p in (tmp_path / "w" / "parts").glob("*.json")} == {
        "full.json",
        "no_refinement.json",
    }
    table = capsys.readouterr().out
    assert "r2 Rg" in table and "no_refinement" in table
    # the splits keep test compositions out of training
    splits = json.loads((tmp_path / "w" / "data" / "splits.json").read_text())
    assert set(res["settings"]["test_chains"]) == {Path(f).stem for f in splits["test"]}
    assert not set(splits["test"]) & set(splits["train"])
