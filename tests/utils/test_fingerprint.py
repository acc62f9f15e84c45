"""openmm_cgml.utils.fingerprint: content hashes of files and folders."""

from __future__ import annotations

import pytest

from openmm_cgml.utils import fingerprint


def test_fingerprint_follows_content_and_names(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "model.safetensors").write_bytes(b"weights-1")
    (a / "config.json").write_text("{}")
    first = fingerprint(a)
    assert fingerprint(a) == first and len(first) == 64
    (a / "model.safetensors").write_bytes(b"weights-2")  # retrained in place
    assert fingerprint(a) != first
    b = tmp_path / "b"
    b.mkdir()
    (b / "model.safetensors").write_bytes(b"weights-2")
    (b / "config.json").write_text("{}")
    assert fingerprint(b) == fingerprint(a)  # where a folder lies does not matter
    (b / "config.json").rename(b / "other.json")
    assert fingerprint(b) != fingerprint(a)  # file names count
    assert fingerprint(a / "config.json") == fingerprint(b / "other.json")  # a file: bytes only
    with pytest.raises(FileNotFoundError, match="nope"):
        fingerprint(tmp_path / "nope")
