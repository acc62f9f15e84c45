"""Analytic TorchScript step/energy modules used by the plugin tests and the benchmark.

Every module here has exactly known behaviour, so the tests compare the plugin's output
against closed forms (no reference simulation needed). Units: nm, ps, kJ/mol.
"""


import torch


class LinearHistoryStep(torch.nn.Module):
    """Deterministic step that uses every frame of the history:

    x_{t+1} = sum_j w_j x_{t-k+1+j} + c     (w over k frames, oldest first; c a constant shift)

    With weights summing to 1 this is a linear recurrence whose solution is computed in
    closed form by :func:`linear_history_reference`.
    """

    history_length: int
    noise_draws: int
    timestep_ps: float
    num_particles: int
    precision: str

    def __init__(self, n: int, weights: list[float], shift: float = 0.01,
                 timestep_ps: float = 0.5, precision: str = "float64") -> None:
        super().__init__()
        self.history_length = len(weights)
        self.noise_draws = 0
        self.timestep_ps = timestep_ps
        self.num_particles = n
        self.precision = precision
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float64))
        self.shift = shift

    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        w = self.weights.to(history.dtype)
        return torch.einsum("k,knd->nd", w, history) + self.shift


class OUStep(torch.nn.Module):
    """AR(1) / Ornstein-Uhlenbeck step around a centre mu:

    x_{t+1} = mu + a (x_t - mu) + s * xi,   xi ~ N(0, 1)

    Stationary mean mu and variance s^2 / (1 - a^2) per coordinate; lag-1 autocorrelation a.
    """

    graph_safe: bool
    history_length: int
    noise_draws: int
    timestep_ps: float
    num_particles: int
    precision: str

    def __init__(self, n: int, a: float = 0.8, s: float = 0.1, mu: float = 1.0,
                 history_length: int = 2, timestep_ps: float = 1.0,
                 precision: str = "float64", graph_safe: bool = False) -> None:
        super().__init__()
        self.graph_safe = graph_safe  # fixed shapes, no syncs: CUDA-graph capturable
        self.history_length = history_length
        self.noise_draws = 1
        self.timestep_ps = timestep_ps
        self.num_particles = n
        self.precision = precision
        self.a = a
        self.s = s
        self.mu = mu

    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        x = history[-1]
        return self.mu + self.a * (x - self.mu) + self.s * noise[0]


class ForceDriftStep(torch.nn.Module):
    """x_{t+1} = x_t + c * F_ext + box diagonal * b: exposes external_force and box."""

    history_length: int
    noise_draws: int
    timestep_ps: float
    num_particles: int
    precision: str

    def __init__(self, n: int, c: float = 0.01, b: float = 0.0) -> None:
        super().__init__()
        self.history_length = 1
        self.noise_draws = 0
        self.timestep_ps = 0.1
        self.num_particles = n
        self.precision = "float64"
        self.c = c
        self.b = b

    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        return history[-1] + self.c * external_force + self.b * torch.diagonal(box).unsqueeze(0)


class NaNAfterStep(torch.nn.Module):
    """Moves every bead by +0.1 nm in x; returns NaN once x of bead 0 exceeds a threshold."""

    history_length: int
    noise_draws: int
    timestep_ps: float
    num_particles: int

    def __init__(self, n: int, threshold: float) -> None:
        super().__init__()
        self.history_length = 1
        self.noise_draws = 0
        self.timestep_ps = 1.0
        self.num_particles = n
        self.threshold = threshold

    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        x = history[-1].clone()
        x[:, 0] += 0.1
        if bool(x[0, 0] > self.threshold):
            x[0, 1] = float("nan")
        return x


class MLPStep(torch.nn.Module):
    """A small learned-looking step (float32 MLP on the last two frames) for the benchmark."""

    history_length: int
    noise_draws: int
    timestep_ps: float
    num_particles: int

    def __init__(self, n: int, hidden: int = 64, history_length: int = 4) -> None:
        super().__init__()
        self.history_length = history_length
        self.noise_draws = 1
        self.timestep_ps = 1.0
        self.num_particles = n
        self.net = torch.nn.Sequential(
            torch.nn.Linear(6, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, 3)
        )

    def forward(self, history: torch.Tensor, noise: torch.Tensor, external_force: torch.Tensor,
                box: torch.Tensor) -> torch.Tensor:
        x = history[-1]
        v = x - history[-2]
        a = 0.01 * self.net(torch.cat([v, external_force], dim=1))
        return x + v + a + 0.001 * noise[0]


class HarmonicEnergy(torch.nn.Module):
    """E = 0.5 k sum |x_i - x0|^2 (kJ/mol), minimum at x0 (nm)."""

    precision: str

    def __init__(self, k: float = 100.0, x0: float = 0.5, precision: str = "float64") -> None:
        super().__init__()
        self.k = k
        self.x0 = x0
        self.precision = precision

    def forward(self, positions: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        d = positions - self.x0
        return 0.5 * self.k * (d * d).sum()


class PairHarmonicEnergy(torch.nn.Module):
    """Harmonic bonds between consecutive beads: E = 0.5 k sum (|x_{i+1}-x_i| - r0)^2."""

    num_particles: int
    precision: str

    def __init__(self, n: int, k: float = 500.0, r0: float = 0.38) -> None:
        super().__init__()
        self.num_particles = n
        self.precision = "float64"
        self.k = k
        self.r0 = r0

    def forward(self, positions: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        d = torch.linalg.norm(positions[1:] - positions[:-1], dim=1)
        return 0.5 * self.k * ((d - self.r0) ** 2).sum()


def linear_history_reference(history: list, weights: list[float], shift: float,
                             steps: int):
    """Iterate the LinearHistoryStep recurrence in numpy (float64) for comparison."""
    import numpy as np

    frames = [np.asarray(f, dtype=np.float64) for f in history]
    w = np.asarray(weights)
    for _ in range(steps):
        nxt = sum(wj * f for wj, f in zip(w, frames[-len(w):], strict=True)) + shift
        frames.append(nxt)
    return np.asarray(frames[-len(w):])
