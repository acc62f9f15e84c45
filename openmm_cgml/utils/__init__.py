"""Small shared helpers (atomic file writes, seeding, fingerprints). Imported by every layer;
imports none."""

from openmm_cgml.utils.atomic import atomic_path, atomic_write
from openmm_cgml.utils.fingerprint import fingerprint
from openmm_cgml.utils.seeding import seed_everything

__all__ = ["atomic_write", "atomic_path", "fingerprint", "seed_everything"]
