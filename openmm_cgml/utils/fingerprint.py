"""Content fingerprints of files and folders (what a resumable run must match)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def fingerprint(path: str | os.PathLike, names: Iterable[str] | None = None) -> str:
    """SHA-256 (hex) of a file's bytes, or of a folder's files (relative names and bytes, in
    sorted order, recursively; with ``names`` only the files at those relative paths that
    exist). Raises FileNotFoundError if ``path`` does not exist."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_file():
        files = [p]
    elif p.is_dir():
        if names is None:
            files = sorted(f for f in p.rglob("*") if f.is_file())
        else:
            files = sorted(p / n for n in set(names) if (p / n).is_file())
    else:
        raise FileNotFoundError(f"{p}: no such file or folder")
    for f in files:
        if f != p:  # a folder's files: their names (and sizes, as delimiters) count too
            h.update(f.relative_to(p).as_posix().encode() + b"\0")
            h.update(f.stat().st_size.to_bytes(8, "little"))
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
