"""Speed of learned CG dynamics vs all-atom OpenMM on the same device, in one table.

What is measured (every figure is wall-clock time of real runs on this machine):

1. **All-atom anchors** (OpenMM, amber14, HBonds constraints, hydrogen mass 1.5 amu, 4 fs,
   LangevinMiddleIntegrator 300 K, after a short minimisation):
   villin headpiece (openmm's own ``app/data/test.pdb``) in implicit GBn2 and in explicit
   TIP3P/PME (1 nm padding, 0.15 M NaCl), and a larger protein (HIV-1 integrase core,
   ``1BHL.pdb`` shipped with pdbfixer's tests; missing residues are not rebuilt) in GBn2.
2. **CG runs** of the same structures with a CG model (default: the shipped default model)
   through ``openmm.app.Simulation`` + ``CGMLIntegrator`` on the same device
   (OpenMM CPU platform for ``--device cpu``, CUDA platform for ``--device cuda``),
   reported as simulated ns/day and the ratio CG / all-atom.
3. **Per-step latency vs bead count**: one compact synthetic chain of N beads (residue-like
   beads of 110 amu on a serpentine path through a cubic lattice of 0.5 nm spacing, i.e. the
   bead density of a folded protein, ~8 beads/nm^3), N = 10 ... 100,000, through the plugin.
4. **Per-step latency vs replicas**: R copies of villin batched in one module (35 R beads;
   molecules never interact), R = 1 ... 3,000: latency per step and per replica. On CUDA the
   replicas use the static graph (fixed shapes, replayed as a CUDA graph) whenever its pairs
   fit under the export's cap, also beyond the automatic choice's limit; from 50,000 pairs on
   each network call keeps only the closest 1.5 x (pairs within the cutoff in the start
   structure) of them (``--pair-capacity``: another number; 0 = every pair).
5. **Plugin overhead**: villin, CGMLIntegrator.step vs calling the same TorchScript module
   in a Python loop (same inputs, no OpenMM) -- the difference is what OpenMM's host round
   trip (get/set positions + velocities) costs per step.

Each latency is the median over timed blocks after warm-up steps; a measurement runs until
``--budget`` seconds (at least ``--min-steps`` steps). Usage::

    python benchmarks/speed.py                          # CPU, full table
    python benchmarks/speed.py --device cuda --json out/speed_h100.json
    python benchmarks/speed.py --quick                  # small sizes, short budgets
    python benchmarks/speed.py --device cuda --tf32 --jit-optimize --network-dtype float16
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform as _pyplatform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u
import torch

if importlib.util.find_spec("openmm_cgml") is None:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmm_cgml.export.options import (  # noqa: E402
    add_network_dtype_argument,
    add_refinement_arguments,
    refinement_overrides,
)
from openmm_cgml.mapping import coarse_grain  # noqa: E402
from openmm_cgml.pretrained import load_model  # noqa: E402
from openmm_cgml.simulation import (  # noqa: E402
    combine_mappings,
    create_integrator,
    create_system,
    no_jit_respecialisation,
)

VILLIN = os.path.join(os.path.dirname(app.__file__), "data", "test.pdb")
LARGER = None
try:  # pdbfixer ships a few PDB files with its tests (no download needed)
    import pdbfixer

    _p = Path(pdbfixer.__file__).parent / "tests" / "data" / "1BHL.pdb"
    LARGER = str(_p) if _p.is_file() else None
except ImportError:  # pragma: no cover
    pass

#: ``--jit-optimize``: run the CG steps with TorchScript's profiling executor on (it fuses
#: elementwise ops of fixed-shape modules; off by default because radius-graph modules change
#: shape every step and re-specialise, see ``no_jit_respecialisation``)
JIT_OPTIMIZE = False

IONS_WATER = {"HOH", "WAT", "CL", "Cl", "NA", "Na", "K", "MG", "CA", "ZN", "SOL"}


# ----------------------------------------------------------------------------- helpers
def platform_for(device: str) -> openmm.Platform:
    name = "CUDA" if device.startswith("cuda") else "CPU"
    return openmm.Platform.getPlatformByName(name)


def platform_properties(device: str) -> dict[str, str]:
    return {"Precision": "mixed"} if device.startswith("cuda") else {}


def timed_steps(step_fn: Any, budget_s: float, min_steps: int, block: int,
                warmup: int) -> tuple[float, int]:
    """Median seconds per step of ``step_fn(n)`` over blocks of ``block`` steps."""
    with torch.jit.optimized_execution(True) if JIT_OPTIMIZE else no_jit_respecialisation():
        step_fn(warmup)
        times: list[float] = []
        done = 0
        start = time.perf_counter()
        while done < min_steps or (time.perf_counter() - start) < budget_s:
            t0 = time.perf_counter()
            step_fn(block)
            times.append((time.perf_counter() - t0) / block)
            done += block
            if time.perf_counter() - start > 20 * budget_s:
                break
    return float(np.median(times)), done


def clean_structure(path: str) -> tuple[app.Topology, Any]:
    """Heavy atoms + hydrogens added by pdbfixer; waters, ions and ligands removed."""
    from pdbfixer import PDBFixer

    fixer = PDBFixer(filename=path)
    fixer.removeHeterogens(keepWater=False)
    fixer.findMissingResidues()
    fixer.missingResidues = {}
    fixer.findNonstandardResidues()
    fixer.replaceNonstandardResidues()
    fixer.findMissingAtoms()
    fixer.addMissingAtoms()
    return fixer.topology, fixer.positions


def allatom_ns_per_day(path: str, solvent: str, device: str, budget: float,
                       min_steps: int) -> dict[str, Any]:
    """ns/day of all-atom OpenMM (amber14, 4 fs HMR, LangevinMiddle) for one structure."""
    ff_files = (["amber14-all.xml", "implicit/gbn2.xml"] if solvent == "implicit"
                else ["amber14-all.xml", "amber14/tip3p.xml"])
    ff = app.ForceField(*ff_files)
    top, pos = clean_structure(path)
    modeller = app.Modeller(top, pos)
    modeller.delete([r for r in modeller.topology.residues() if r.name in IONS_WATER])
    modeller.addHydrogens(ff, pH=7.0)
    if solvent == "explicit":
        modeller.addSolvent(ff, model="tip3p", padding=1.0 * u.nanometer,
                            ionicStrength=0.15 * u.molar)
        system = ff.createSystem(modeller.topology, nonbondedMethod=app.PME,
                                 nonbondedCutoff=1.0 * u.nanometer, constraints=app.HBonds,
                                 hydrogenMass=1.5 * u.amu)
    else:
        system = ff.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff,
                                 constraints=app.HBonds, hydrogenMass=1.5 * u.amu)
    dt_ps = 0.004
    integrator = openmm.LangevinMiddleIntegrator(300 * u.kelvin, 1 / u.picosecond,
                                                 dt_ps * u.picosecond)
    integrator.setRandomNumberSeed(1)
    context = openmm.Context(system, integrator, platform_for(device),
                             platform_properties(device))
    context.setPositions(modeller.positions)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, 200)
    context.setVelocitiesToTemperature(300 * u.kelvin, 1)
    sec, steps = timed_steps(integrator.step, budget, min_steps, block=max(1, min_steps // 4),
                             warmup=10)
    return {"atoms": system.getNumParticles(), "timestep_fs": 4.0, "s_per_step": sec,
            "ns_per_day": dt_ps * 1e-3 / sec * 86400.0, "steps_timed": steps}


def torch_device(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


def cg_simulation(model: Any, mapping: Any, device: str, seed: int = 1,
                  overrides: dict[str, Any] | None = None,
                  graphs: bool = True) -> app.Simulation:
    """Simulation of one mapping or of a list of them (replicas batched in one module);
    ``overrides``: step-module export overrides (e.g. ``sigmas=[]``: no refinement);
    ``graphs``: let the integrator capture the step in a CUDA graph (graph-safe modules on
    CUDA only: the export picks a static graph for small molecules on CUDA)."""
    module = model.export(mapping, device=torch_device(device), **(overrides or {}))
    topology, x0 = combine_mappings(mapping)
    integrator = create_integrator(module, seed=seed)
    integrator.setUseCudaGraphs(graphs)
    sim = app.Simulation(topology, create_system(mapping), integrator, platform_for(device),
                         platform_properties(device))
    sim.context.setPositions(x0 * u.nanometer)
    return sim


def cg_ns_per_day(model: Any, mapping: Any, device: str, budget: float,
                  min_steps: int, overrides: dict[str, Any] | None = None,
                  graphs: bool = True) -> dict[str, Any]:
    sim = cg_simulation(model, mapping, device, overrides=overrides, graphs=graphs)
    sec, steps = timed_steps(sim.step, budget, min_steps, block=max(1, min_steps // 4), warmup=5)
    return {"beads": mapping.num_beads, "timestep_ps": model.timestep_ps, "s_per_step": sec,
            "ns_per_day": model.timestep_ps * 1e-3 / sec * 86400.0, "steps_timed": steps,
            "cuda_graphs": sim.integrator.getCudaGraphStatus()}


def compact_chain(n: int, spacing: float = 0.5) -> Any:
    """BeadMapping of a compact N-bead chain (serpentine path through a cubic lattice)."""
    side = int(np.ceil(n ** (1 / 3)))
    pts = []
    for z in range(side):
        ys = range(side) if z % 2 == 0 else range(side - 1, -1, -1)
        for j, y in enumerate(ys):
            xs = range(side) if (j + z * side) % 2 == 0 else range(side - 1, -1, -1)
            for x in xs:
                pts.append((x, y, z))
                if len(pts) == n:
                    break
            if len(pts) == n:
                break
        if len(pts) == n:
            break
    pos = np.asarray(pts, dtype=np.float64) * spacing
    top = app.Topology()
    chain = top.addChain()
    atoms = []
    for i in range(n):
        res = top.addResidue("ALA", chain, id=str(i % 9999 + 1))
        atoms.append(top.addAtom("CA", app.element.carbon, res))
    for i in range(n - 1):
        top.addBond(atoms[i], atoms[i + 1])
    return coarse_grain((top, pos), scheme="custom", atom_to_bead=np.arange(n), clean=False,
                        masses=np.full(n, 110.0))


def plugin_latency(model: Any, mapping: Any, device: str, budget: float,
                   min_steps: int, overrides: dict[str, Any] | None = None,
                   graphs: bool = True) -> tuple[float, str]:
    """(median s per step through the plugin, the integrator's CUDA-graph status)."""
    sim = cg_simulation(model, mapping, device, overrides=overrides, graphs=graphs)
    sec = timed_steps(sim.step, budget, min_steps, block=max(1, min_steps // 4), warmup=5)[0]
    return sec, sim.integrator.getCudaGraphStatus()


def bare_latency(model: Any, mapping: Any, device: str, budget: float,
                 min_steps: int, overrides: dict[str, Any] | None = None) -> tuple[float, bool]:
    """(median s per step of the bare TorchScript module in a Python loop, whether it was
    replayed as a CUDA graph). A graph-safe module on CUDA is captured and replayed like the
    integrator does, so the overhead compares like with like."""
    from openmm_cgml.simulation import capture_step

    module = model.export(mapping, device=torch_device(device), **(overrides or {}))
    dev = torch.device(torch_device(device))
    x0 = torch.tensor(mapping.bead_positions()[0], dtype=torch.float32, device=dev)
    state = {"h": x0.unsqueeze(0).repeat(module.history_length, 1, 1)}
    zeros = torch.zeros_like(x0)
    box = torch.zeros(3, 3, device=dev)
    gen = torch.Generator().manual_seed(1)

    def draw() -> torch.Tensor:
        return torch.randn((module.noise_draws, x0.shape[0], 3), generator=gen).to(dev)

    call: Any = module
    if dev.type == "cuda" and bool(getattr(module, "graph_safe", False)):
        with torch.no_grad():
            call = capture_step(module, (state["h"], draw(), zeros, box))

    def step(n: int) -> None:
        with torch.no_grad():
            for _ in range(n):
                new = call(state["h"], draw(), zeros, box)
                state["h"] = torch.cat([state["h"][1:], new.unsqueeze(0)])
        if dev.type == "cuda":
            torch.cuda.synchronize()

    sec = timed_steps(step, budget, min_steps, block=max(1, min_steps // 4), warmup=2)[0]
    return sec, call is not module


def static_pairs_per_copy(mapping: Any) -> int:
    """Static (directed, non-bonded) pairs of one copy of ``mapping`` in a step module."""
    from openmm_cgml.export.export import static_pair_count

    return static_pair_count(torch.zeros(mapping.num_beads, dtype=torch.long),
                             torch.as_tensor(mapping.cg_bonds).reshape(-1, 2).T)


def replica_static_graph(model: Any, mapping: Any, replicas: int, device: str,
                         graph: str = "static") -> bool | None:
    """True (force the static graph) on CUDA when ``replicas`` copies of ``mapping`` fit under
    the export's static-pair cap; None (the export's automatic choice) otherwise.
    ``graph="radius"``: False (the radius search, for comparison)."""
    from openmm_cgml.export.export import STATIC_GRAPH_MAX_PAIRS

    if graph == "radius":
        return False
    if torch_device(device) != "cuda":
        return None
    return True if replicas * static_pairs_per_copy(mapping) <= STATIC_GRAPH_MAX_PAIRS else None


def replica_pairs(model: Any, mapping: Any, replicas: int, static: bool,
                  pair_capacity: int | None) -> int | None:
    """Non-bonded pairs each network call of the replica module works on (None: radius
    search, as many as fall within the cutoff)."""
    from openmm_cgml.export.export import resolve_pair_capacity

    if not static:
        return None
    one = static_pairs_per_copy(mapping)
    kept = resolve_pair_capacity(pair_capacity, True, model.network, [mapping] * replicas,
                                 replicas * one)
    return kept or replicas * one


def step_gflop(model: Any, mapping: Any, overrides: dict[str, Any] | None = None,
               static_graph: bool = False) -> float:
    """Matrix-multiply work of one CG step (GFLOP, counted by torch.utils.flop_counter on the
    eager step module on the CPU; elementwise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    from openmm_cgml.export.export import build_step_module

    module = build_step_module(model.network, mapping, static_graph=static_graph,
                               **(overrides or {}))
    n, k = module.num_particles, module.history_length
    x0 = torch.tensor(mapping.bead_positions()[0], dtype=torch.float32)
    hist = x0.unsqueeze(0).repeat(k, 1, 1)
    noise = torch.randn((module.noise_draws, n, 3), generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(hist, noise, torch.zeros(n, 3), torch.zeros(3, 3))
    return counter.get_total_flops() / 1e9


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--model", default=None, help="CG model name or checkpoint (default model)")
    p.add_argument("--budget", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--min-steps", type=int, default=8, help="at least this many timed steps")
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000, 100000])
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 10, 100, 1000, 3000])
    p.add_argument("--skip-allatom", action="store_true", help="no all-atom anchors")
    p.add_argument("--skip-explicit", action="store_true", help="no explicit-solvent anchor")
    p.add_argument("--quick", action="store_true",
                   help="sizes 10..1000, replicas 1..10, 2 s budgets, no explicit solvent")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--tf32", action="store_true",
                   help="allow TF32 tensor-core matmuls on CUDA (libtorch-wide, so the plugin too)")
    p.add_argument("--jit-optimize", action="store_true",
                   help="TorchScript profiling executor on (fusion; for static-graph modules)")
    p.add_argument("--no-refinement", action="store_true",
                   help="CG steps without score refinement (one network call per step)")
    p.add_argument("--pair-capacity", type=int, default=None,
                   help="static pairs kept per network call (0: every pair; default: the "
                        "export's automatic choice, pruning from 50,000 pairs on)")
    p.add_argument("--replica-graph", choices=("static", "radius"), default="static",
                   help="replica modules: static pairs in a CUDA graph (default, where they fit) "
                        "or the radius search every call (to compare the two)")
    add_network_dtype_argument(p)  # for every CG figure
    p.add_argument("--fold-norms", action=argparse.BooleanOptionalAction, default=None,
                   help="force the folded layer norms on/off (default: the export's automatic "
                        "choice, on from 50,000 static pairs)")
    p.add_argument("--sorted-aggregation", action="store_true",
                   help="segment sums over target-sorted edges instead of index_add_")
    add_refinement_arguments(p)  # --sampler, --refine-levels, ... (default: the model's)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = [s for s in args.sizes if s <= 1000]
        args.replicas = [r for r in args.replicas if r <= 10]
        args.budget = min(args.budget, 2.0)
        args.skip_explicit = True
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU")
    torch.manual_seed(0)
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    global JIT_OPTIMIZE
    JIT_OPTIMIZE = bool(args.jit_optimize)
    model = load_model(args.model)
    # step-module export overrides for every CG figure
    overrides: dict[str, Any] = refinement_overrides(model.network.config, args)
    if args.no_refinement:
        overrides["sigmas"] = []
    if args.network_dtype != "float32":
        overrides["network_dtype"] = args.network_dtype
    if args.fold_norms is not None:
        overrides["fold_norms"] = args.fold_norms
    if args.sorted_aggregation:
        overrides["sorted_aggregation"] = True
    results: dict[str, Any] = {
        "device": args.device,
        "host": _pyplatform.node(),
        "cpu_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        "openmm": openmm.__version__, "torch": torch.__version__,
        "model": model.name, "model_parameters": model.num_parameters,
        "model_timestep_ps": model.timestep_ps, "noise_draws": None,
        "anchors": [], "bead_scaling": [], "replica_scaling": [], "overhead": {},
    }
    villin = model.map(VILLIN)
    results["noise_draws"] = int(model.export(villin, **overrides).noise_draws)
    results["export_overrides"] = overrides
    results["tf32"] = bool(args.tf32)
    results["jit_optimize"] = JIT_OPTIMIZE
    results["villin_step_gflop"] = {"radius": step_gflop(model, villin, overrides),
                                    "static": step_gflop(model, villin, overrides, True)}

    def save(note: str) -> None:
        """Print the figure just measured and write the partial JSON (a later failure or a
        time limit must not lose what was measured before it)."""
        print(f"  {note}", file=sys.stderr, flush=True)
        if args.json:
            from openmm_cgml.utils import atomic_write

            atomic_write(args.json, json.dumps(results, indent=2) + "\n")

    systems = [("villin (35 res)", VILLIN, "implicit")]
    if not args.skip_explicit:
        systems.append(("villin (35 res)", VILLIN, "explicit"))
    if LARGER is not None:
        systems.append(("HIV-1 integrase core 1BHL", LARGER, "implicit"))
    for label, path, solvent in systems:
        row: dict[str, Any] = {"system": label, "solvent": solvent}
        if not args.skip_allatom:
            print(f"all-atom {label} {solvent} ...", file=sys.stderr, flush=True)
            row["allatom"] = allatom_ns_per_day(path, solvent, args.device, args.budget,
                                                args.min_steps)
        print(f"CG {label} ...", file=sys.stderr, flush=True)
        mapping = villin if path == VILLIN else model.map(path)
        row["cg"] = cg_ns_per_day(model, mapping, args.device, args.budget, args.min_steps,
                                  overrides)
        if row["cg"]["cuda_graphs"] == "captured":  # the same run without the graph
            row["cg_no_graphs"] = cg_ns_per_day(model, mapping, args.device, args.budget,
                                                args.min_steps, overrides, graphs=False)
        if "allatom" in row:
            row["ratio"] = row["cg"]["ns_per_day"] / row["allatom"]["ns_per_day"]
        results["anchors"].append(row)
        save(f"{label} {solvent}: all-atom "
             f"{row['allatom']['ns_per_day'] if 'allatom' in row else float('nan'):.4g} ns/day, "
             f"CG {row['cg']['ns_per_day']:.4g} ns/day")

    for n in args.sizes:
        print(f"beads {n} ...", file=sys.stderr, flush=True)
        sec, status = plugin_latency(model, compact_chain(n), args.device, args.budget,
                                     args.min_steps, overrides)
        results["bead_scaling"].append({"beads": n, "ms_per_step": sec * 1e3,
                                        "us_per_bead_step": sec * 1e6 / n,
                                        "cuda_graphs": status})
        save(f"{n} beads: {sec * 1e3:.3f} ms/step")
    for r in args.replicas:
        print(f"replicas {r} ...", file=sys.stderr, flush=True)
        static = replica_static_graph(model, villin, r, args.device, args.replica_graph)
        sec, status = plugin_latency(model, [villin] * r, args.device, args.budget,
                                     args.min_steps, {**overrides, "static_graph": static,
                                                      "pair_capacity": args.pair_capacity
                                                      if static else None})
        agg = r * model.timestep_ps * 1e-3 / sec * 86400.0
        row = {"replicas": r, "beads": villin.num_beads * r, "ms_per_step": sec * 1e3,
               "ms_per_replica_step": sec * 1e3 / r, "aggregate_ns_per_day": agg,
               "static_graph": bool(static), "cuda_graphs": status,
               "pairs_per_call": replica_pairs(model, villin, r, bool(static),
                                               args.pair_capacity)}
        results["replica_scaling"].append(row)
        save(f"{r} replicas: {sec * 1e3:.3f} ms/step")
    print("plugin overhead ...", file=sys.stderr, flush=True)
    plug, _status = plugin_latency(model, villin, args.device, args.budget, args.min_steps,
                                   overrides)
    bare, bare_graphed = bare_latency(model, villin, args.device, args.budget,
                                      args.min_steps, overrides)
    results["overhead"] = {"beads": villin.num_beads, "plugin_ms": plug * 1e3,
                           "bare_module_ms": bare * 1e3, "bare_module_cuda_graph": bare_graphed,
                           "overhead_ms": (plug - bare) * 1e3,
                           "overhead_fraction": (plug - bare) / bare}
    save(f"overhead: plugin {plug * 1e3:.3f} ms vs bare {bare * 1e3:.3f} ms")
    print(format_table(results))
    return 0


def _graph(row: dict[str, Any]) -> str:
    """'yes' when the step ran as a replayed CUDA graph, else the reason (shortened)."""
    status = row.get("cuda_graphs", "")
    if status == "captured":
        return "yes"
    for key, short in (("capture failed", "capture failed"),
                       ("not graph_safe", "no (radius graph)"), ("not CUDA", "no (not CUDA)"),
                       ("without CUDA graph", "no (not built)"), ("disabled", "no (off)")):
        if key in status:
            return short
    return status or "-"


def format_table(r: dict[str, Any]) -> str:
    lines = [f"## openmm-cgml speed on {r['device']}"
             + (f" ({r['gpu']})" if r.get("gpu") else f" ({r['cpu_threads']} CPU threads)"),
             f"OpenMM {r['openmm']}, torch {r['torch']}; CG model {r['model']} "
             f"({r['model_parameters']:,} parameters, dt = {r['model_timestep_ps']:g} ps, "
             f"{r['noise_draws']} noise draws = 1 + Langevin steps per model step"
             + (f"; overrides {r['export_overrides']}" if r.get("export_overrides") else "")
             + ("; TF32 matmuls" if r.get("tf32") else "")
             + ("; TorchScript optimizer on" if r.get("jit_optimize") else "")
             + ")", "",
             "| system | solvent | atoms | all-atom ns/day | beads | CG ns/day | CG / all-atom "
             "| CG ns/day, no CUDA graph | CUDA graph |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for a in r["anchors"]:
        aa = a.get("allatom")
        atoms = f"{aa['atoms']:,}" if aa else "-"
        aa_speed = f"{aa['ns_per_day']:.4g}" if aa else "-"
        ratio = f"{a['ratio']:.3g}x" if "ratio" in a else "-"
        plain = f"{a['cg_no_graphs']['ns_per_day']:.4g}" if "cg_no_graphs" in a else "-"
        lines.append(f"| {a['system']} | {a['solvent']} | {atoms} | {aa_speed} | "
                     f"{a['cg']['beads']} | {a['cg']['ns_per_day']:.4g} | {ratio} | {plain} | "
                     f"{_graph(a['cg'])} |")
    lines += ["", "| beads (one compact chain) | ms / step | us / bead-step | CUDA graph |",
              "|---:|---:|---:|---|"]
    for b in r["bead_scaling"]:
        lines.append(f"| {b['beads']:,} | {b['ms_per_step']:.3f} | {b['us_per_bead_step']:.3f} "
                     f"| {_graph(b)} |")
    implicit = [a["allatom"]["ns_per_day"] for a in r["anchors"]
                if a["solvent"] == "implicit" and "allatom" in a and "villin" in a["system"]]
    lines += ["", "| villin replicas | beads | ms / step | ms / replica-step | "
                  "aggregate ns/day | vs one all-atom GBn2 run | CUDA graph | pairs / call |",
              "|---:|---:|---:|---:|---:|---:|---|---:|"]
    for b in r["replica_scaling"]:
        agg = b.get("aggregate_ns_per_day")
        ratio = f"{agg / implicit[0]:.3g}x" if agg and implicit else "-"
        pairs = f"{b['pairs_per_call']:,}" if b.get("pairs_per_call") else "radius"
        lines.append(f"| {b['replicas']:,} | {b['beads']:,} | {b['ms_per_step']:.3f} | "
                     f"{b['ms_per_replica_step']:.4f} | "
                     f"{f'{agg:.4g}' if agg else '-'} | {ratio} | {_graph(b)} | {pairs} |")
    work = r.get("villin_step_gflop")
    if work and implicit:
        # 10,000x one all-atom GBn2 run, in model steps per second and matmul work per second
        steps = 1e4 * implicit[0] / (r["model_timestep_ps"] * 1e-3) / 86400.0
        lines += ["", f"Work per villin step (matrix multiplies): {work['radius']:.3g} GFLOP "
                      f"(radius graph), {work['static']:.3g} GFLOP (static graph). 10,000x the "
                      f"all-atom GBn2 figure = {steps:,.0f} model steps/s = "
                      f"{steps * work['radius'] / 1e3:.3g} TFLOP/s sustained (radius graph), "
                      f"aggregated over replicas (one trajectory would need "
                      f"{1e6 / steps:.1f} us per step)."]
    o = r["overhead"]
    if o:
        lines += ["", f"Plugin overhead (villin, {o['beads']} beads): CGMLIntegrator.step "
                      f"{o['plugin_ms']:.3f} ms vs bare module {o['bare_module_ms']:.3f} ms"
                      f"{' (CUDA graph)' if o.get('bare_module_cuda_graph') else ''} "
                      f"-> {o['overhead_ms']:+.3f} ms/step ({100 * o['overhead_fraction']:+.1f}%)"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
