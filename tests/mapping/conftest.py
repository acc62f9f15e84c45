"""Fixtures of the mapping tests: openmm's villin, generated small structures, a polymer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openmm.app as app
import pytest
from mapping_helpers import make_polymer

DATA = Path(__file__).resolve().parent.parent / "data" / "mapping"
VILLIN = Path(app.__file__).resolve().parent / "data" / "test.pdb"


@pytest.fixture(scope="session")
def villin_path() -> Path:
    return VILLIN


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture
def polymer() -> tuple[app.Topology, np.ndarray, np.ndarray]:
    return make_polymer()
