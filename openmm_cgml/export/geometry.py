"""Small TorchScript-compatible geometry helpers used inside exported step modules.

All functions are plain torch (no custom ops) so that the exported file runs from C++.
Box convention: OpenMM reduced triclinic box vectors as the rows of a ``[3, 3]`` tensor
(``a = box[0]``, ``b = box[1]``, ``c = box[2]``, with ``a = (ax, 0, 0)``,
``b = (bx, by, 0)``, ``c = (cx, cy, cz)``, nm). A box of all zeros means no periodic
boundary conditions.
"""

from __future__ import annotations

import torch


def minimum_image(displacement: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Wrap displacements ``[..., 3]`` (nm) into the minimum image of a reduced triclinic box.

    Returns ``displacement`` unchanged when ``box`` is all zeros (or any box length is zero).
    Free of host-device syncs and data-dependent shapes (the box is
    tested on the device), so it can be captured in a CUDA graph.
    """
    d = displacement
    cell = box.to(d.dtype)
    diag = torch.diagonal(cell)
    periodic = (diag[0] * diag[1] * diag[2]).abs() > 0.0
    cell = torch.where(periodic, cell, torch.zeros_like(cell))
    safe = torch.where(periodic, diag, torch.ones_like(diag))
    d = d - torch.round(d[..., 2:3] / safe[2]) * cell[2]
    d = d - torch.round(d[..., 1:2] / safe[1]) * cell[1]
    d = d - torch.round(d[..., 0:1] / safe[0]) * cell[0]
    return d


def finite_difference_velocity(history: torch.Tensor, box: torch.Tensor, dt: float) -> torch.Tensor:
    """Current velocity ``[N, 3]`` (nm/ps) = (x[-1] - x[-2]) / dt, minimum-imaged.

    ``history`` is ``[k, N, 3]`` (nm, oldest first). With ``k == 1`` the velocity is zero.
    """
    if history.shape[0] < 2:
        return torch.zeros_like(history[-1])
    return minimum_image(history[-1] - history[-2], box) / dt
