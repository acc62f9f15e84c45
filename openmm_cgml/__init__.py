"""openmm-cgml: learned coarse-grained molecular dynamics at nanosecond time steps in OpenMM.

Units everywhere: nm, ps, kJ/mol, amu, K (as in OpenMM).

Typical use::

    import openmm_cgml
    model = openmm_cgml.load_model()                 # shipped pretrained default
    cg = openmm_cgml.coarse_grain("protein.pdb")     # BeadMapping
    system = model.create_system(cg)                 # openmm.System of beads
    integrator = model.create_integrator(cg, seed=1) # CGMLIntegrator

Public names are imported lazily so that importing the package is cheap and the
compiled plugin is only loaded when it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "CGMLIntegrator": "openmm_cgml.plugin",
    "CGMLForce": "openmm_cgml.plugin",
    "coarse_grain": "openmm_cgml.mapping",
    "BeadMapping": "openmm_cgml.mapping",
    "map_trajectory": "openmm_cgml.mapping",
    "load_model": "openmm_cgml.pretrained",
    "list_models": "openmm_cgml.pretrained",
    "rollout": "openmm_cgml.simulation",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'openmm_cgml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
