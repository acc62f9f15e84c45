"""``cgml export CHECKPOINT -s structure.pdb -o model.pt``: a molecule's TorchScript step module."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    from openmm_cgml.export.options import add_refinement_arguments

    p = subparsers.add_parser(
        "export",
        help="export a trained model, specialised to one structure, as a TorchScript step module",
        description="Maps STRUCTURE with the model's bead scheme, precomputes the bead "
                    "embeddings and writes a TorchScript module obeying the CGMLIntegrator "
                    "step-module contract (load it with openmm_cgml.CGMLIntegrator(path)).",
    )
    p.add_argument("checkpoint",
                   help="checkpoint folder (written by `cgml train`) or shipped model name")
    p.add_argument("-s", "--structure", required=True, help="all-atom PDB/PDBx file")
    p.add_argument("-o", "--output", required=True, help="output TorchScript file (.pt)")
    p.add_argument("--mapping", default=None,
                   help="bead mapping scheme (default: the one the model was trained with)")
    p.add_argument("--device", default="cpu", help="device of the module's weights (cpu)")
    p.add_argument("--static-graph", action=argparse.BooleanOptionalAction, default=None,
                   help="use all bead pairs of each molecule as fixed edges (CUDA-graph "
                        "capturable step; default: auto, on for CUDA, molecules of at "
                        "most 256 beads and at most 200,000 pairs)")
    add_refinement_arguments(p)
    p.add_argument("--save-mapping", default=None,
                   help="also write the BeadMapping JSON here (bead order of the module)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from openmm_cgml.export.options import refinement_overrides
    from openmm_cgml.pretrained import load_model

    model = load_model(args.checkpoint)
    overrides = {}
    if args.mapping:
        overrides["scheme"] = args.mapping
    mapping = model.map(args.structure, **overrides)
    kw = refinement_overrides(model.network.config, args)
    module = model.export(mapping, path=args.output, device=args.device,
                          static_graph=args.static_graph, **kw)
    if args.save_mapping:
        mapping.save(args.save_mapping)
    info = {"output": args.output, "model": model.name, "structure": args.structure,
            "num_particles": module.num_particles, "history_length": module.history_length,
            "noise_draws": module.noise_draws, "timestep_ps": module.timestep_ps,
            "static_graph": module.graph_safe}
    print(json.dumps(info, indent=2))
    return 0
