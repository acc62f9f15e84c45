"""Atomic writes: all or nothing, with ordinary file permissions."""

from __future__ import annotations

import os
import stat

import pytest

from openmm_cgml.utils import atomic_path, atomic_write


def test_atomic_write_replaces_and_uses_umask_permissions(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    old_mask = os.umask(0o022)
    try:
        atomic_write(target, "new")
    finally:
        os.umask(old_mask)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "b.txt"
    target.write_text("keep")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"]
