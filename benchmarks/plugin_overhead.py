"""Per-step cost of running a step module through CGMLIntegrator vs. a plain Python loop.

For each bead count N (default 100, 1,000, 10,000) and device (CPU; CUDA when available) the
same TorchScript step module is advanced

* in a Python loop: ``x = module(history, randn, zeros, box)``, ``history = cat(history[1:], x)``
  (what a user would write without OpenMM; nothing leaves the device), and
* by ``CGMLIntegrator.step`` inside an ``openmm.Context`` (CPU platform for the CPU device,
  CUDA platform for CUDA), which also writes positions/velocities into OpenMM every step.

Two modules: ``mlp`` (a per-bead MLP on velocity and force, hidden width 128: cost of a small
learned model) and ``trivial`` (x + v + noise: measures the plugin's fixed cost per step).
Each measurement is the best of ``--repeats`` timed runs of an adaptive number of steps.

    python benchmarks/plugin_overhead.py                     # table on stdout
    python benchmarks/plugin_overhead.py --sizes 1000 --json out/plugin_overhead.json
"""


import argparse
import importlib.util
import json
import platform as _pyplatform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import openmm
import torch

if importlib.util.find_spec("openmm_cgml") is None:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmm_cgml.plugin import CGMLIntegrator  # noqa: E402


class TrivialStep(torch.nn.Module):
    """x_{t+1} = x_t + (x_t - x_{t-1}) + 1e-3 * noise."""

    history_length: int
    noise_draws: int
    timestep_ps: float
    num_particles: int

    def __init__(self, n: int, history_length: int = 8) -> None:
        super().__init__()
        self.history_length = history_length
        self.noise_draws = 1
        self.timestep_ps = 1.0
        self.num_particles = n

    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        x = history[-1]
        return x + (x - history[-2]) + 1e-3 * noise[0]


class MLPStep(torch.nn.Module):
    """x_{t+1} = x_t + v_t + 1e-2 * MLP([v_t, F_ext]) + 1e-3 * noise (float32)."""

    history_length: int
    noise_draws: int
    timestep_ps: float
    num_particles: int

    def __init__(self, n: int, hidden: int = 128, history_length: int = 8) -> None:
        super().__init__()
        self.history_length = history_length
        self.noise_draws = 1
        self.timestep_ps = 1.0
        self.num_particles = n
        self.net = torch.nn.Sequential(
            torch.nn.Linear(6, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, 3),
        )

    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        x = history[-1]
        v = x - history[-2]
        a = 1e-2 * self.net(torch.cat([v, external_force], dim=1))
        return x + v + a + 1e-3 * noise[0]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_time(run, steps: int, repeats: int, sync) -> float:
    best = float("inf")
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        run(steps)
        sync()
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def _adaptive_steps(run, sync, target_s: float) -> int:
    sync()
    t0 = time.perf_counter()
    run(3)
    sync()
    per = max((time.perf_counter() - t0) / 3, 1e-6)
    return int(min(max(target_s / per, 10), 5000))


def time_python_loop(module: torch.jit.ScriptModule, x0: np.ndarray, device: torch.device,
                     repeats: int, target_s: float, seed: int) -> float:
    k, m = module.history_length, module.noise_draws
    n = x0.shape[0]
    hist = torch.as_tensor(x0, dtype=torch.float32, device=device).expand(k, n, 3).contiguous()
    ext = torch.zeros(n, 3, device=device)
    box = torch.zeros(3, 3, device=device)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    state = {"h": hist}

    @torch.no_grad()
    def run(steps: int) -> None:
        h = state["h"]
        for _ in range(steps):
            noise = torch.randn(m, n, 3, generator=gen, device=device)
            x = module(h, noise, ext, box)
            h = torch.cat([h[1:], x.unsqueeze(0)], 0)
        state["h"] = h

    sync = lambda: _sync(device)  # noqa: E731
    run(5)  # warm-up (TorchScript profiling executor specialises on the first calls)
    steps = _adaptive_steps(run, sync, target_s)
    return _best_time(run, steps, repeats, sync)


def time_plugin(module: torch.jit.ScriptModule, x0: np.ndarray, platform_name: str,
                repeats: int, target_s: float, seed: int) -> tuple[float, str]:
    n = x0.shape[0]
    system = openmm.System()
    for _ in range(n):
        system.addParticle(100.0)
    integrator = CGMLIntegrator(module, seed=seed)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform_name))
    context.setPositions(x0)
    integrator.step(5)  # warm-up; also moves the module to the platform's device
    device = integrator.getDevice()

    def sync() -> None:
        context.getState(getPositions=False)  # returns once OpenMM's queue is done

    steps = _adaptive_steps(integrator.step, sync, target_s)
    t = _best_time(integrator.step, steps, repeats, sync)
    return t, device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--modules", nargs="+", default=["mlp", "trivial"],
                        choices=["mlp", "trivial"])
    parser.add_argument("--devices", nargs="+", default=None, choices=["cpu", "cuda"],
                        help="default: cpu, plus cuda when torch and OpenMM can use it")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target-seconds", type=float, default=0.5,
                        help="approximate duration of one timed run")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices
    if devices is None:
        devices = ["cpu"]
        names = [openmm.Platform.getPlatform(i).getName()
                 for i in range(openmm.Platform.getNumPlatforms())]
        if torch.cuda.is_available() and "CUDA" in names:
            devices.append("cuda")
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    rows: list[dict[str, Any]] = []
    header = (f"{'module':8s} {'N':>6s} {'device':7s} {'python loop':>12s} {'plugin':>12s} "
              f"{'ratio':>6s} {'overhead':>9s}")
    print(header)
    print("-" * len(header))
    for name in args.modules:
        for n in args.sizes:
            x0 = rng.normal(scale=2.0, size=(n, 3))
            eager = MLPStep(n) if name == "mlp" else TrivialStep(n)
            module = torch.jit.script(eager.eval())
            for dev in devices:
                device = torch.device("cuda", 0) if dev == "cuda" else torch.device("cpu")
                platform_name = "CUDA" if dev == "cuda" else "CPU"
                loop_module = torch.jit.script(eager.eval()).to(device)
                t_loop = time_python_loop(loop_module, x0, device, args.repeats,
                                          args.target_seconds, args.seed)
                t_plugin, used = time_plugin(module, x0, platform_name, args.repeats,
                                             args.target_seconds, args.seed)
                ratio = t_plugin / t_loop
                row = {"module": name, "N": n, "device": used, "platform": platform_name,
                       "python_loop_ms": t_loop * 1e3, "plugin_ms": t_plugin * 1e3,
                       "ratio": ratio, "overhead_percent": (ratio - 1) * 100}
                rows.append(row)
                print(f"{name:8s} {n:6d} {used:7s} {t_loop * 1e3:9.3f} ms {t_plugin * 1e3:9.3f} ms "
                      f"{ratio:6.2f} {row['overhead_percent']:+8.1f}%", flush=True)
    if args.json is not None:
        from openmm_cgml.utils import atomic_write

        meta = {"torch": torch.__version__, "openmm": openmm.__version__,
                "torch_threads": torch.get_num_threads(), "machine": _pyplatform.node(),
                "cpu": _pyplatform.processor(),
                "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
        atomic_write(args.json, json.dumps({"meta": meta, "results": rows}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
