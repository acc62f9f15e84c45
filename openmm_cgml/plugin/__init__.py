"""The compiled OpenMM plugin: :class:`CGMLIntegrator` and :class:`CGMLForce`.

Both are ordinary OpenMM objects (SWIG proxies of C++ ``OpenMM::Integrator`` /
``OpenMM::Force`` subclasses), so they go straight into ``openmm.Context``,
``openmm.app.Simulation`` and ``openmm.XmlSerializer``.

Step-module contract (CGMLIntegrator), TorchScript::

    forward(history: Tensor[k, N, 3],       # bead positions (nm), oldest first, last = current
            noise: Tensor[M, N, 3],         # standard normal draws made by the integrator
            external_force: Tensor[N, 3],   # kJ/mol/nm from the System's other forces
            box: Tensor[3, 3]) -> Tensor[N, 3]   # next positions (nm); box zeros = no PBC
    attributes: history_length (k), noise_draws (M), timestep_ps, num_particles (N)
    optional:   precision = "float32" | "float64"

Energy-module contract (CGMLForce)::

    forward(positions: Tensor[N, 3], box: Tensor[3, 3]) -> Tensor[]   # energy in kJ/mol
    optional: num_particles, precision

The plugin is compiled at install time against the installed torch; importing this module
checks that torch has not changed since (otherwise the C++ ABI would not match).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CGMLIntegrator",
    "CGMLForce",
    "build_info",
    "deserialize",
    "model_to_bytes",
]

_HERE = Path(__file__).resolve().parent
REBUILD_COMMAND = "pip install --no-build-isolation --force-reinstall --no-deps ."


def build_info() -> dict[str, Any]:
    """What the compiled plugin was built against (torch/openmm/swig versions, library paths)."""
    path = _HERE / "_build_info.json"
    if not path.exists():
        raise ImportError(
            "the compiled openmm-cgml plugin is missing (no openmm_cgml/plugin/_build_info.json). "
            "Install the package with: pip install --no-build-isolation .  "
            "(or, in a source checkout: python setup.py build_ext --inplace)"
        )
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _check_build() -> None:
    info = build_info()
    import openmm
    import torch

    built = info.get("torch_version")
    if built != torch.__version__:
        raise ImportError(
            f"openmm-cgml was built against torch {built} but torch {torch.__version__} is "
            f"installed; rebuild with: {REBUILD_COMMAND}"
        )
    built_omm = str(info.get("openmm_version", ""))
    if built_omm.split(".")[:2] != openmm.__version__.split(".")[:2]:
        raise ImportError(
            f"openmm-cgml was built against openmm {built_omm} but openmm {openmm.__version__} is "
            f"installed; rebuild with: {REBUILD_COMMAND}"
        )


_check_build()

try:
    from . import cgmlswig as _cgml
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"the compiled openmm-cgml plugin failed to load ({exc}); rebuild with: {REBUILD_COMMAND}"
    ) from exc


def model_to_bytes(model: Any) -> bytes:
    """Return the TorchScript bytes of ``model``.

    ``model`` may be a path (str or os.PathLike) to a file written by ``torch.jit.save``,
    the bytes of such a file, or a ``torch.jit.ScriptModule`` (saved to bytes here).
    Raises FileNotFoundError for a missing file and TypeError for anything else (an eager
    ``torch.nn.Module`` must be scripted first: ``torch.jit.script(module)``).
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        return path.read_bytes()
    import torch

    if isinstance(model, (torch.jit.ScriptModule, torch.jit.RecursiveScriptModule)):
        buffer = io.BytesIO()
        torch.jit.save(model, buffer)
        return buffer.getvalue()
    if isinstance(model, torch.nn.Module):
        raise TypeError(
            f"{type(model).__name__} is an eager torch.nn.Module; pass torch.jit.script(model) "
            "(a TorchScript module) or the path of a file written by torch.jit.save"
        )
    raise TypeError(
        "model must be a path, bytes, or torch.jit.ScriptModule, "
        f"not {type(model).__name__}"
    )


def _frames_to_array(frames: Any, k: int, n: int) -> np.ndarray:
    """Convert frames (numpy array, list of arrays, or openmm Quantity) to float64 [k, n, 3] nm."""
    try:
        from openmm import unit
    except ImportError:  # pragma: no cover
        unit = None
    if unit is not None and isinstance(frames, unit.Quantity):
        frames = frames.value_in_unit(unit.nanometer)
    elif isinstance(frames, (list, tuple)) and unit is not None:
        frames = [
            f.value_in_unit(unit.nanometer) if isinstance(f, unit.Quantity) else f for f in frames
        ]
        frames = [np.asarray([tuple(v) for v in f]) if _is_vec3_list(f) else f for f in frames]
    try:
        arr = np.asarray(frames, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"setHistory: frames must be an array of shape [{k}, {n}, 3] in nm ({exc})"
        ) from exc
    if arr.shape != (k, n, 3):
        raise ValueError(
            f"setHistory: frames must have shape [{k}, {n}, 3] (history_length, beads, xyz) in nm,"
            f" oldest first; got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("setHistory: frames contain NaN or infinite coordinates")
    return np.ascontiguousarray(arr)


def _is_vec3_list(f: Any) -> bool:
    return isinstance(f, (list, tuple)) and len(f) > 0 and type(f[0]).__name__ == "Vec3"


class _TypedSerializationMixin:
    """Pickling and copying through XmlSerializer that keep the CGML type.

    (OpenMM's own implementations clone through base-class pointers, which SWIG cannot turn
    back into CGMLIntegrator/CGMLForce proxies.)
    """

    def __getstate__(self) -> str:
        import openmm

        return openmm.XmlSerializer.serialize(self)

    def __setstate__(self, xml: str) -> None:
        typed = deserialize(xml)
        self.this = typed.this

    def __copy__(self) -> Any:
        import openmm

        duplicate = deserialize(openmm.XmlSerializer.serialize(self))
        duplicate.__class__ = self.__class__
        return duplicate

    def __deepcopy__(self, memo: dict) -> Any:
        return self.__copy__()


class CGMLIntegrator(_TypedSerializationMixin, _cgml.CGMLIntegrator):
    """An OpenMM integrator that advances CG beads with a learned TorchScript step module.

    Parameters
    ----------
    model:
        Path to a TorchScript file, its bytes, or a ``torch.jit.ScriptModule`` obeying the
        step-module contract (module docstring). The bytes are embedded in the integrator
        (and in its XML serialization), not referenced by path.
    seed:
        Seed of the integrator's own normal generator (int, 1 .. 2**31-1). ``None`` or 0: a
        fresh seed is drawn when the Context is created (not reproducible).

    The step size (ps) is the module's ``timestep_ps``. After ``Context.setPositions`` the
    history is rebuilt from the positions and the Context's velocities
    (``x_{t-j} = x_t - j * dt * v_t``); :meth:`setHistory` sets it exactly.
    Checkpoints (``Context.createCheckpoint``, ``Simulation.saveCheckpoint``) carry the history
    and the generator state, so a restarted run continues bit-for-bit.
    """

    def __init__(self, model: Any, seed: int | None = None) -> None:
        super().__init__(model_to_bytes(model))
        if seed is not None:
            self.setRandomNumberSeed(_check_seed(seed))

    def getStepSize(self) -> Any:
        """The model's time step as an openmm Quantity in ps (like other OpenMM integrators)."""
        from openmm import unit

        return super().getStepSize() * unit.picosecond

    def setHistory(self, frames: Any) -> None:
        """Set the history: ``history_length`` frames of ``[N, 3]`` positions (nm), oldest first.

        Accepts a numpy array ``[k, N, 3]``, a list of ``[N, 3]`` arrays, or an openmm
        ``Quantity`` (converted to nm). The Context's positions become the last frame and its
        velocities the finite difference of the last two. Call after the Context exists and
        after ``setPositions`` (which would otherwise replace the history).
        """
        arr = _frames_to_array(frames, self.getHistoryLength(), self.getNumParticles())
        self._setHistoryRaw(arr.tobytes())

    def getHistory(self) -> np.ndarray:
        """The current history as float64 ``[k, N, 3]`` (nm), oldest first."""
        raw = self._getHistoryRaw()
        return np.frombuffer(raw, dtype=np.float64).reshape(
            self.getHistoryLength(), self.getNumParticles(), 3
        ).copy()


class CGMLForce(_TypedSerializationMixin, _cgml.CGMLForce):
    """An OpenMM Force whose energy is a TorchScript module of the positions.

    ``model``: path, bytes or ``torch.jit.ScriptModule`` with
    ``forward(positions[N,3] nm, box[3,3] nm) -> energy`` (kJ/mol, scalar); forces
    (kJ/mol/nm) come from autograd. Works with every OpenMM integrator and with
    ``LocalEnergyMinimizer``/``Simulation.minimizeEnergy``, and mixes with other forces.
    """

    def __init__(self, model: Any) -> None:
        super().__init__(model_to_bytes(model))


def _check_seed(seed: int) -> int:
    seed = int(seed)
    if not 0 <= seed < 2**31:
        raise ValueError(f"seed must be an integer in [0, 2**31), got {seed}")
    return seed


def deserialize(xml: str) -> Any:
    """Like ``openmm.XmlSerializer.deserialize`` but returns CGMLIntegrator/CGMLForce objects
    with their full Python API (OpenMM's own deserialize returns base-class proxies, which
    still work in a Context but lack the CGML methods)."""
    import openmm

    obj = openmm.XmlSerializer.deserialize(xml)
    for cls in (_cgml.CGMLIntegrator, _cgml.CGMLForce):
        base = openmm.Integrator if cls is _cgml.CGMLIntegrator else openmm.Force
        if isinstance(obj, base):
            try:
                cast = cls._cast(obj)
            except Exception:
                continue
            # hand ownership of the C++ object to the new proxy
            obj.thisown = False
            cast.thisown = True
            wrapper = CGMLIntegrator if cls is _cgml.CGMLIntegrator else CGMLForce
            cast.__class__ = wrapper
            return cast
    return obj
