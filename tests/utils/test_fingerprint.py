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


def test_checkpoint_fingerprint_is_of_the_model_files_only(tmp_path):
    """A training output folder's fingerprint is that of its final/ model files: optimizer
    state and logs beside them do not count, the weights do."""
    from openmm_cgml.export.checkpoint import checkpoint_fingerprint

    final = tmp_path / "run" / "final"
    final.mkdir(parents=True)
    for name, data in (("config.json", b"{}"), ("model.safetensors", b"w1"),
                       ("statistics.json", b"{}")):  # fmt: skip
        (final / name).write_bytes(data)
    first = checkpoint_fingerprint(tmp_path / "run")
    assert checkpoint_fingerprint(final) == first
    assert checkpoint_fingerprint(final / "model.safetensors") == first
    (final / "train_state.pt").write_bytes(b"optimizer")
    (tmp_path / "run" / "metrics.csv").write_text("step,loss\n")
    assert checkpoint_fingerprint(tmp_path / "run") == first
    (final / "model.safetensors").write_bytes(b"w2")
    assert checkpoint_fingerprint(tmp_path / "run") != first
