"""Pure-Python rollouts of step modules, batched over molecules and replicas on one device.

The rollout runs the *same* TorchScript step module that the plugin's ``CGMLIntegrator``
runs, and feeds it noise drawn the way the integrator draws it
(:class:`NoiseStream`), so a python rollout and a plugin run with the same seed give the
same trajectory to float tolerance. Noise can also be given explicitly (a tensor
``[n_steps, M, N, 3]`` or a callable), which is how the plugin/rollout agreement is tested
independently of the generator.

Batching: :func:`rollout` takes a module exported for a *list* of mappings (the beads of all
molecules/replicas concatenated, ``module.batch`` telling them apart) and one seed per
molecule; molecule ``i`` then sees exactly the noise that a plugin run of molecule ``i``
alone with ``seeds[i]`` would see.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

NoiseFn = Callable[[int, int, int], torch.Tensor]


class NoiseStream:
    """Standard-normal draws with the integrator's semantics.

    Each call ``draw(M, N)`` returns ``Tensor[M, N, 3]`` (float32) from a CPU
    ``torch.Generator`` seeded with ``seed`` -- one ``torch.randn((M, N, 3))`` per step,
    in step order, as ``CGMLIntegrator`` does.
    """

    def __init__(self, seed: int) -> None:
        if not 1 <= int(seed) < 2**31:
            raise ValueError(f"seed must be an integer in [1, 2**31) like CGMLIntegrator's "
                             f"(0 means 'random' there, which cannot be reproduced); got {seed}")
        self.seed = int(seed)
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(self.seed)

    def draw(self, draws: int, particles: int) -> torch.Tensor:
        return torch.randn((draws, particles, 3), generator=self.generator, dtype=torch.float32)

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)


@contextlib.contextmanager
def tf32_matmul(enabled: bool) -> Iterator[None]:
    """TF32 tensor-core float32 matrix multiplies on CUDA inside the block (``enabled``; a
    setting already on stays on). The switch is process-wide, so it is put back afterwards,
    whatever happens."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = bool(enabled) or before
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def history_from_state(positions: torch.Tensor | np.ndarray, velocities: torch.Tensor | np.ndarray
                       | None, history_length: int, timestep_ps: float) -> torch.Tensor:
    """History ``[k, N, 3]`` (nm) consistent with a current state, as the plugin rebuilds it.

    Frame ``i`` (oldest first) is ``x - (k - 1 - i) * v * dt``: straight-line motion with the
    given velocities (nm/ps; ``None`` = at rest) ending at the current positions.
    """
    x = torch.as_tensor(np.asarray(positions, dtype=np.float64))
    v = torch.zeros_like(x) if velocities is None else torch.as_tensor(
        np.asarray(velocities, dtype=np.float64))
    if x.shape != v.shape or x.dim() != 2 or x.shape[1] != 3:
        raise ValueError(f"positions and velocities must both be [N, 3]; got {tuple(x.shape)} "
                         f"and {tuple(v.shape)}")
    lags = torch.arange(history_length - 1, -1, -1, dtype=x.dtype).reshape(-1, 1, 1)
    return x.unsqueeze(0) - lags * v.unsqueeze(0) * timestep_ps


def _segments(module: torch.nn.Module) -> list[tuple[int, int]]:
    """(start, stop) bead ranges of each molecule of a (batched) step module."""
    batch = getattr(module, "batch", None)
    n = int(module.num_particles)
    if batch is None:
        return [(0, n)]
    b = batch.detach().cpu().numpy()
    if b.size and np.any(np.diff(b) < 0):
        raise ValueError("module.batch must be sorted (molecules stored contiguously)")
    bounds = np.flatnonzero(np.diff(b)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [n]])
    return [(int(a), int(c)) for a, c in zip(starts, stops, strict=True)]


@torch.no_grad()
def rollout(module: torch.nn.Module, history: torch.Tensor | np.ndarray, n_steps: int, *,
            seed: int | Sequence[int] | None = None,
            noise: torch.Tensor | NoiseFn | None = None,
            external_force: torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None = None,
            box: torch.Tensor | np.ndarray | None = None,
            record_interval: int = 1,
            device: torch.device | str | None = None,
            progress: bool = False,
            optimize: bool = False,
            cuda_graph: bool | None = None) -> np.ndarray:
    """Run ``n_steps`` model steps in Python; return the recorded positions.

    Args:
        module: a step module (scripted or eager) obeying the contract; may be batched
            over several molecules (``export_step_module(model, [m1, m2, ...])``).
        history: ``[k, N, 3]`` initial history (nm, oldest first), N = ``num_particles``.
        n_steps: number of model steps (each ``module.timestep_ps`` ps).
        seed: integrator seed; for a batched module a list with one seed per molecule
            (each molecule then gets its own :class:`NoiseStream`, like one plugin run each).
        noise: instead of ``seed``, a tensor ``[n_steps, M, N, 3]`` or a callable
            ``(step, M, N) -> [M, N, 3]``.
        external_force: ``[N, 3]`` kJ/mol/nm, or a callable ``positions[N,3] -> [N,3]``;
            ``None`` = zeros.
        box: ``[3, 3]`` nm periodic box (rows = box vectors); ``None`` = no PBC.
        record_interval: keep every this many steps (the initial frame is always kept).
        device: device for the tensors (default: where the module's buffers are).
        progress: show a tqdm progress bar.
        optimize: let TorchScript's profiling executor specialise the graph. Off by
            default: the neighbour lists change size every step, and re-specialising costs
            ~1 s per call on CPU (measured: 1.2 s vs 10 ms per step for a 35-bead model).
        cuda_graph: capture the step once in a CUDA graph and replay it (what the plugin's
            integrator does; the launch cost of the ~10^3 kernels of a step disappears).
            ``None`` (default): when the module is ``graph_safe`` (static-graph export) and
            runs on CUDA. ``True`` for any other module raises ValueError. A capture that
            fails falls back to ordinary calls with a warning.

    Returns:
        ``float64 [1 + n_steps // record_interval, N, 3]`` positions in nm (frame 0 = the
        last history frame).
    """
    k = int(module.history_length)
    m_draws = int(module.noise_draws)
    n = int(module.num_particles)
    if device is None:
        buffers = list(module.buffers())
        device = buffers[0].device if buffers else torch.device("cpu")
    hist = torch.as_tensor(np.asarray(history), dtype=torch.float32).to(device)
    if hist.shape != (k, n, 3):
        raise ValueError(f"history must be [{k}, {n}, 3] for this module, got {tuple(hist.shape)}")
    if n_steps < 0 or record_interval < 1:
        raise ValueError("n_steps must be >= 0 and record_interval >= 1")
    cell = (torch.zeros(3, 3) if box is None
            else torch.as_tensor(np.asarray(box), dtype=torch.float32))
    cell = cell.to(device)

    segments = _segments(module)
    streams: list[NoiseStream] = []
    if noise is None:
        if seed is None:
            raise ValueError("give a seed (or explicit noise) for the rollout")
        seeds = [int(seed)] * len(segments) if isinstance(seed, (int, np.integer)) else list(seed)
        if len(seeds) != len(segments):
            raise ValueError(f"the module holds {len(segments)} molecules but {len(seeds)} seeds "
                             "were given")
        streams = [NoiseStream(s) for s in seeds]
    elif isinstance(noise, torch.Tensor) and noise.shape[:1] != (n_steps,):
        raise ValueError(f"noise must be [n_steps={n_steps}, {m_draws}, {n}, 3], "
                         f"got {tuple(noise.shape)}")

    def draw(step: int) -> torch.Tensor:
        if streams:
            parts = [s.draw(m_draws, b - a) for s, (a, b) in zip(streams, segments, strict=True)]
            return torch.cat(parts, dim=1)
        if isinstance(noise, torch.Tensor):
            return noise[step]
        return noise(step, m_draws, n)  # type: ignore[misc]

    safe = bool(getattr(module, "graph_safe", False)) and torch.device(device).type == "cuda"
    if cuda_graph and not safe:
        raise ValueError("cuda_graph=True needs a graph_safe step module (exported with "
                         "static_graph=True) running on a CUDA device")
    # a constant external force goes to the device once, not every step
    force_fn = external_force if callable(external_force) else None
    fixed_force = None if force_fn is not None else (
        torch.zeros(n, 3, device=device) if external_force is None
        else torch.as_tensor(external_force, dtype=torch.float32).to(device))

    frames = [hist[-1].double().cpu().numpy()]
    iterator = range(n_steps)
    if progress:
        from tqdm import tqdm
        iterator = tqdm(iterator, desc="rollout", unit="step")
    with torch.jit.optimized_execution(optimize):
        call: Callable[..., torch.Tensor] = module
        if safe and cuda_graph is not False and n_steps > 0:
            eps0 = draw(0)  # drawn once: step 0 gets it back (noise streams advance per draw)
            force0 = fixed_force if fixed_force is not None else torch.zeros(n, 3, device=device)
            call = capture_step(module, (hist, eps0.to(device=device, dtype=torch.float32),
                                         force0, cell))
            draw = _replaying_first(draw, eps0)
        for step in iterator:
            hist = _advance(call, hist, step, draw, force_fn, fixed_force, device, cell)
            if (step + 1) % record_interval == 0:
                frames.append(hist[-1].double().cpu().numpy())
    return np.stack(frames)


class _GraphedStep:
    """A step module captured once in a CUDA graph: ``(hist, eps, force, box) -> [N, 3]``.

    The inputs are copied into static tensors and the graph replayed; the output is cloned
    (the graph overwrites it at the next replay). Warm-up calls run on a side stream first
    (TorchScript and the CUDA caching allocator settle before capture).
    """

    def __init__(self, module: torch.nn.Module, example: Sequence[torch.Tensor]) -> None:
        self.inputs = [t.clone() for t in example]
        device = self.inputs[0].device
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):
                module(*self.inputs)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = module(*self.inputs)

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        for static, value in zip(self.inputs, args, strict=True):
            static.copy_(value)
        self.graph.replay()
        return self.output.clone()


def capture_step(module: torch.nn.Module,
                 example: Sequence[torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A graph-safe step module captured once in a CUDA graph, called like the module.

    ``example``: CUDA tensors shaped like the call's inputs (history ``[k, N, 3]`` nm, noise
    ``[M, N, 3]``, force ``[N, 3]`` kJ/mol/nm, box ``[3, 3]`` nm). Returns a callable
    ``(hist, eps, force, box) -> [N, 3]`` that replays the graph, or ``module`` itself (with a
    warning) if the capture fails. Call it under ``torch.no_grad()``."""
    import warnings

    try:
        return _GraphedStep(module, example)
    except RuntimeError as err:  # e.g. an op that synchronises: ordinary calls still work
        warnings.warn(f"CUDA graph capture of the step module failed, running it without: "
                      f"{err}", RuntimeWarning, stacklevel=3)
        return module


def _replaying_first(draw: Callable[[int], torch.Tensor],
                     eps0: torch.Tensor) -> Callable[[int], torch.Tensor]:
    """``draw`` whose first call returns ``eps0``, the step-0 noise already drawn for the
    capture (noise streams advance on every draw; the trajectory must not skip it)."""
    first = [eps0]

    def wrapped(step: int) -> torch.Tensor:
        if first:
            return first.pop()
        return draw(step)

    return wrapped


def _advance(module: Callable[..., torch.Tensor], hist: torch.Tensor, step: int,
             draw: Callable[[int], torch.Tensor],
             force_fn: Callable[[torch.Tensor], torch.Tensor] | None,
             fixed_force: torch.Tensor | None, device: torch.device | str,
             cell: torch.Tensor) -> torch.Tensor:
    """One model step: returns the shifted history ``[k, N, 3]``. The force is
    ``force_fn(positions)`` if given, else the constant ``fixed_force`` (on ``device``)."""
    if force_fn is not None:
        force = torch.as_tensor(force_fn(hist[-1]), dtype=torch.float32).to(device)
    else:
        assert fixed_force is not None
        force = fixed_force
    eps = draw(step).to(device=device, dtype=torch.float32)
    new = module(hist, eps, force, cell)
    if not bool(torch.isfinite(new).all()):
        raise FloatingPointError(f"the step module returned NaN/inf at step {step + 1}")
    return torch.cat([hist[1:], new.unsqueeze(0).to(hist.dtype)], dim=0)
