"""The learned CG model: Embedding GNN (fine graph), Dynamics GNN (Gaussian over the next
acceleration) and Score GNN (denoising score matching + annealed Langevin refinement).

``CGModel(ModelConfig(family="plain" | "equivariant"), statistics)``; checkpoints via
``save_checkpoint`` / ``load_checkpoint`` (safetensors + JSON).
"""

from openmm_cgml.models.checkpoint import (
    load_checkpoint,
    load_train_state,
    read_checkpoint_config,
    save_checkpoint,
)
from openmm_cgml.models.config import FAMILIES, ModelConfig
from openmm_cgml.models.graph_ops import build_edges, radius_graph
from openmm_cgml.models.model import CGModel

__all__ = ["CGModel", "ModelConfig", "FAMILIES", "save_checkpoint", "load_checkpoint",
           "load_train_state", "read_checkpoint_config", "build_edges", "radius_graph"]
