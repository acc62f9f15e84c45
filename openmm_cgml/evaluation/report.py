"""Write the evaluation report: ``metrics.json``, ``report.md`` and PNG figures (atomically)."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from openmm_cgml.utils import atomic_path, atomic_write

__all__ = ["write_metrics_json", "write_report", "make_figures", "safe_name"]


def safe_name(name: str) -> str:
    """A file-name-safe version of a molecule name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "molecule"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_metrics_json(path: str | os.PathLike, metrics: dict[str, Any]) -> Path:
    """Write ``metrics`` as pretty JSON (NaN/inf become null), atomically."""
    return atomic_write(path, json.dumps(_jsonable(metrics), indent=2, sort_keys=True) + "\n")


def _savefig(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _layout(fig: Any, right_in: float = 0.25) -> None:
    # fixed margins in inches: tight_layout/bbox_inches="tight" measure every tick label (slow)
    w, h = fig.get_size_inches()
    rows = max(1, fig.axes[0].get_gridspec().nrows if fig.axes else 1)
    fig.subplots_adjust(
        left=0.75 / w,
        right=1 - right_in / w,
        bottom=0.6 / h,
        top=1 - 0.35 / h,
        wspace=0.4,
        hspace=min(0.9, 0.75 * rows / h),
    )


def _grid(n: int) -> tuple[int, int]:
    cols = min(4, max(1, n))
    return int(math.ceil(n / cols)), cols


def make_figures(
    out_dir: str | os.PathLike,
    metrics: dict[str, Any],
    artefacts: dict[str, Any],
    max_panels: int = 12,
    max_detail: int = 4,
) -> dict[str, list[str]]:
    """Make the PNG figures; return ``{kind: [file names relative to out_dir]}``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs: dict[str, list[str]] = {}
    names = sorted(artefacts)[:max_panels]
    systems = metrics["systems"]
    agg = metrics["aggregate"]

    # Rg time series
    if names:
        rows, cols = _grid(len(names))
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
        for ax, name in zip(axes.flat, names, strict=False):
            ref, cg = artefacts[name]["reference"], artefacts[name]["cg"]
            for j, rg in enumerate(ref.rg[:3]):
                ax.plot(
                    np.arange(len(rg)) * ref.dt_ps / 1000,
                    rg,
                    color="k",
                    lw=0.6,
                    label="reference" if j == 0 else None,
                )
            for j, rg in enumerate(cg.rg[:3]):
                ax.plot(
                    np.arange(len(rg)) * cg.dt_ps / 1000,
                    rg,
                    color=f"C{j}",
                    lw=0.6,
                    alpha=0.8,
                    label="CG" if j == 0 else None,
                )
            ax.set_title(name, fontsize=8)
            ax.set_xlabel("time (ns)")
            ax.set_ylabel("Rg (nm)")
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        _layout(fig)
        figs["rg_timeseries"] = [_savefig(fig, out / "rg_timeseries.png").name]

        # Rg distributions
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
        for ax, name in zip(axes.flat, names, strict=False):
            rr = np.concatenate(artefacts[name]["reference"].rg)
            rc = np.concatenate(artefacts[name]["cg"].rg)
            lo, hi = min(rr.min(), rc.min()), max(rr.max(), rc.max())
            bins = np.linspace(lo, hi + 1e-9, 40)
            ax.hist(rr, bins=bins, density=True, histtype="step", color="k", label="reference")
            ax.hist(rc, bins=bins, density=True, histtype="step", color="C0", label="CG")
            js = systems[name]["comparison"].get("rg_js")
            ax.set_title(f"{name}  JS={js:.3f}" if js is not None else name, fontsize=8)
            ax.set_xlabel("Rg (nm)")
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        _layout(fig)
        figs["rg_distributions"] = [_savefig(fig, out / "rg_distributions.png").name]

        # Rg^2 autocorrelation
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
        for ax, name in zip(axes.flat, names, strict=False):
            for key, color in (("reference", "k"), ("cg", "C0")):
                o = artefacts[name][key]
                ax.plot(np.arange(len(o.rg2_acf)) * o.dt_ps, o.rg2_acf, color=color, label=key)
                tau = o.summary.get("rg2_tau_ps")
                if tau:
                    ax.axvline(tau, color=color, ls=":", lw=0.8)
            ax.axhline(0, color="0.7", lw=0.5)
            ax.set_xscale("symlog", linthresh=max(artefacts[name]["reference"].dt_ps, 1e-9))
            ax.set_title(name, fontsize=8)
            ax.set_xlabel("lag (ps)")
            ax.set_ylabel("ACF of Rg$^2$")
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        _layout(fig)
        figs["rg2_acf"] = [_savefig(fig, out / "rg2_acf.png").name]

    # scatter plots across systems
    all_names = sorted(systems)
    for key, label, unit, log, fname in (
        ("rg_mean_nm", "mean Rg", "nm", False, "rg_scatter.png"),
        ("rg2_tau_ps", "Rg$^2$ relaxation time", "ps", True, "tau_scatter.png"),
    ):
        pr = [(systems[n]["reference"].get(key), systems[n]["cg"].get(key)) for n in all_names]
        pr = [(r, c) for r, c in pr if r is not None and c is not None]
        if not pr:
            continue
        r, c = np.array(pr).T
        fig, ax = plt.subplots(figsize=(4.2, 4))
        ax.scatter(r, c, s=18)
        lo, hi = min(r.min(), c.min()), max(r.max(), c.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        score = agg.get("rg_mean" if key == "rg_mean_nm" else "rg2_tau", {})
        title = label
        if "r2" in score:
            title += f"\n$r^2$ = {score['r2']:.3f}, MAE = {score['mae']:.3g} {unit}"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"reference ({unit})")
        ax.set_ylabel(f"CG ({unit})")
        _layout(fig)
        figs.setdefault("scatter", []).append(_savefig(fig, out / fname).name)

    # bond/angle distributions pooled over molecules
    if names:
        fig, axes = plt.subplots(1, 2, figsize=(8, 3))
        for ax, attr, xl in (
            (axes[0], "bond_lengths", "bond length (nm)"),
            (axes[1], "bond_angles", "bond angle (rad)"),
        ):
            rr = np.concatenate([getattr(artefacts[n]["reference"], attr) for n in names])
            rc = np.concatenate([getattr(artefacts[n]["cg"], attr) for n in names])
            if len(rr) and len(rc):
                lo, hi = min(rr.min(), rc.min()), max(rr.max(), rc.max())
                bins = np.linspace(lo, hi + 1e-9, 60)
                ax.hist(rr, bins=bins, density=True, histtype="step", color="k", label="reference")
                ax.hist(rc, bins=bins, density=True, histtype="step", color="C0", label="CG")
            ax.set_xlabel(xl)
        axes[0].legend(fontsize=7)
        _layout(fig)
        figs["bonded"] = [_savefig(fig, out / "bonded_distributions.png").name]

    # proteins: RMSD to the reference structure and fraction of native contacts
    prot = [
        n
        for n in names
        if "rmsd_nm" in artefacts[n]["reference"].extra and "rmsd_nm" in artefacts[n]["cg"].extra
    ]
    if prot:
        fig, axes = plt.subplots(len(prot), 2, figsize=(8, 2.6 * len(prot)), squeeze=False)
        for row, name in zip(axes, prot, strict=True):
            for ax, key, xl in (
                (row[0], "rmsd_nm", "RMSD to reference structure (nm)"),
                (row[1], "q", "fraction of native contacts Q"),
            ):
                rr = artefacts[name]["reference"].extra.get(key)
                rc = artefacts[name]["cg"].extra.get(key)
                if rr is None or rc is None:
                    ax.axis("off")
                    continue
                lo, hi = min(rr.min(), rc.min()), max(rr.max(), rc.max())
                bins = np.linspace(lo, hi + 1e-9, 40)
                ax.hist(rr, bins=bins, density=True, histtype="step", color="k", label="reference")
                ax.hist(rc, bins=bins, density=True, histtype="step", color="C0", label="CG")
                ax.set_xlabel(xl)
                ax.set_title(name, fontsize=8)
        axes[0, 0].legend(fontsize=7)
        _layout(fig)
        figs["protein"] = [_savefig(fig, out / "protein_rmsd_q.png").name]

    # per-molecule detail: FES and contact maps
    for name in names[:max_detail]:
        fes = artefacts[name].get("fes")
        if fes is not None:
            fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), sharex=True, sharey=True)
            finite = np.concatenate(
                [fes.fes_ref[np.isfinite(fes.fes_ref)], fes.fes_cg[np.isfinite(fes.fes_cg)]]
            )
            vmax = float(np.percentile(finite, 98)) if len(finite) else 1.0
            ext = [fes.x_edges[0], fes.x_edges[-1], fes.y_edges[0], fes.y_edges[-1]]
            for ax, f, title in ((axes[0], fes.fes_ref, "reference"), (axes[1], fes.fes_cg, "CG")):
                im = ax.imshow(
                    np.ma.masked_invalid(f.T),
                    origin="lower",
                    extent=ext,
                    aspect="auto",
                    vmin=0,
                    vmax=vmax,
                    cmap="viridis",
                )
                ax.set_title(f"{name}: {title}", fontsize=8)
                ax.set_xlabel("TIC 1")
            axes[0].set_ylabel("TIC 2")
            fig.colorbar(im, ax=axes, label="F (kT)")
            fig.suptitle(f"TICA free energy, JS = {fes.js:.3f}", fontsize=9)
            figs.setdefault("fes", []).append(
                _savefig(fig, out / f"fes_{safe_name(name)}.png").name
            )
        ref, cg = artefacts[name]["reference"], artefacts[name]["cg"]
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
        for ax, m, title, cmap, vr in (
            (axes[0], ref.contact_map, "reference", "Greys", (0, 1)),
            (axes[1], cg.contact_map, "CG", "Greys", (0, 1)),
            (axes[2], cg.contact_map - ref.contact_map, "CG - reference", "RdBu_r", (-1, 1)),
        ):
            im = ax.imshow(m, origin="lower", cmap=cmap, vmin=vr[0], vmax=vr[1])
            ax.set_title(f"{name}: {title}", fontsize=8)
            ax.set_xlabel("bead")
            fig.colorbar(im, ax=ax, fraction=0.046)
        _layout(fig, right_in=0.7)
        figs.setdefault("contacts", []).append(
            _savefig(fig, out / f"contacts_{safe_name(name)}.png").name
        )
    return figs


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float | np.floating):
        if isinstance(v, float) and not math.isfinite(v):
            return "-"
        return format(v, spec)
    return str(v)


def _interval(ci: list[float] | None) -> str | None:
    return None if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def write_report(
    out_dir: str | os.PathLike,
    metrics: dict[str, Any],
    figures: dict[str, list[str]],
    title: str = "openmm-cgml evaluation",
) -> Path:
    """Write ``report.md`` (headline, per-molecule table, definitions, figures), atomically."""
    agg = metrics["aggregate"]
    s = metrics["settings"]
    lines = [f"# {title}", ""]
    info = metrics.get("info", {})
    if info:
        for k, v in info.items():
            lines.append(
                f"- **{k}**: {_fmt(v) if not isinstance(v, dict | list) else json.dumps(v)}"
            )
        lines.append("")
    lines += ["## Headline (across molecules)", "", "| metric | value |", "|---|---|"]
    rows = [
        ("molecules compared", agg.get("num_systems")),
        ("r^2 of mean Rg", agg["rg_mean"].get("r2")),
        ("Pearson r^2 of mean Rg", agg["rg_mean"].get("pearson_r2")),
        ("MAE of mean Rg (nm)", agg["rg_mean"].get("mae")),
        ("r^2 of mean Rg, 95 % bootstrap interval over the molecules",
         _interval(agg["rg_mean"].get("r2_ci95"))),
        ("r^2 of Rg^2 relaxation time", agg["rg2_tau"].get("r2")),
        ("r^2 of Rg^2 relaxation time, 95 % bootstrap interval over the molecules",
         _interval(agg["rg2_tau"].get("r2_ci95"))),
        ("r^2 of Rg^2 relaxation time that the exact times would score, given the errors of "
         "both estimates (ceiling)", agg["rg2_tau"].get("r2_ceiling")),
        ("r^2 of ln(Rg^2 relaxation time)", agg["rg2_tau_log"].get("r2")),
        ("Pearson r^2 of Rg^2 relaxation time", agg["rg2_tau"].get("pearson_r2")),
        ("MAE of Rg^2 relaxation time (ps)", agg["rg2_tau"].get("mae")),
        ("collision rate (per bead-step)", agg.get("collision_rate")),
        ("close contacts: CG frames closer than the reference's closest approach (mean "
         "fraction)", agg.get("mean_close_contact_fraction")),
        ("stretched bonds: CG frames with a bond longer than any in the reference (mean "
         "fraction)", agg.get("mean_stretched_bond_fraction")),
        ("stable rollouts: no collision and no blow-up (fraction)", agg.get("stable_fraction")),
        ("rollouts without a blow-up (fraction)", agg.get("blowup_free_fraction")),
        ("rollouts without a collision (fraction)", agg.get("collision_free_fraction")),
        ("stable rollouts after 10 / 100 / ... model steps, up to the run's length (fraction)",
         " / ".join(f"{int(n):,}: {_fmt(v)}"
                    for n, v in (agg.get("stable_fraction_by_steps") or {}).items()) or None),
        ("rollouts", agg.get("num_rollouts")),
        (
            "molecules without a recorded model frame (all rollouts failed at step 1, or fewer "
            "steps than the record interval)",
            len(agg.get("molecules_without_model_frames") or []),
        ),
        ("reference tau converged (fraction)", agg.get("reference_tau_converged_fraction")),
        ("r^2 of Rg^2 relaxation time, converged references only",
         agg.get("rg2_tau_converged_refs", {}).get("r2")),
        ("mean JS of Rg distributions", agg.get("mean_rg_js")),
        ("mean JS of bond lengths", agg.get("mean_bond_length_js")),
        ("mean JS of bond angles", agg.get("mean_bond_angle_js")),
        ("mean JS of TICA FES", agg.get("mean_fes_js")),
        ("mean contact-map MAE", agg.get("mean_contact_map_mae")),
    ]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in rows]
    lines += [
        "",
        "## Per molecule",
        "",
        "| molecule | Rg ref (nm) | Rg CG (nm) | tau ref (ps) | tau CG (ps) | ref tau "
        "converged | collision rate | closest approach ref / CG (nm) | close contacts | "
        "longest bond ref / CG (nm) | stretched bonds | stable | JS Rg | JS bonds | "
        "JS angles | JS FES |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(metrics["systems"]):
        d = metrics["systems"][name]
        r, c, cmpd = d["reference"], d["cg"], d["comparison"]
        lines.append(
            f"| {name} | {_fmt(r.get('rg_mean_nm'))} | {_fmt(c.get('rg_mean_nm'))} | "
            f"{_fmt(r.get('rg2_tau_ps'))} | {_fmt(c.get('rg2_tau_ps'))} | "
            f"{_fmt(r.get('rg2_tau_converged'))} | {_fmt(c.get('collision_rate'))} | "
            f"{_fmt(r.get('closest_nonbonded_min_nm'))} / "
            f"{_fmt(c.get('closest_nonbonded_min_nm'))} | "
            f"{_fmt(cmpd.get('close_contact_fraction'))} | "
            f"{_fmt(r.get('bond_length_max_nm'))} / {_fmt(c.get('bond_length_max_nm'))} | "
            f"{_fmt(cmpd.get('stretched_bond_fraction'))} | "
            f"{_fmt(c.get('stable_fraction'))} | {_fmt(cmpd.get('rg_js'))} | "
            f"{_fmt(cmpd.get('bond_length_js'))} | {_fmt(cmpd.get('bond_angle_js'))} | "
            f"{_fmt(cmpd.get('fes_js'))} |"
        )
    lines += [
        "",
        "## Definitions",
        "",
        "- Rg: mass-weighted radius of gyration of the beads, mean over all frames of all runs.",
        f"- Rg^2 relaxation time: `analysis.relaxation_time` with method `{s['tau_method']}` "
        f"(window `{s['tau_window']}`): the integrated time is dt (1/2 + sum_{{s<=M}} rho(s)) "
        "with Sokal's self-consistent window M >= 5 tau; the ACF is averaged over the runs. "
        "It counts as converged when the window rule holds and each run spans >= 50 tau.",
        "- r^2: coefficient of determination of CG against reference values (identity line, "
        "no refit); Pearson r^2 is the squared correlation. The bootstrap interval resamples "
        "the molecules (2,000 resamples, seeded). The ceiling is 1 - sum(s_ref^2 + s_cg^2) / "
        "sum((tau_ref - mean)^2) with s the statistical errors of the two tau estimates "
        "(Sokal): what exact relaxation times would be expected to score against these "
        "references; an r^2 near or above it is as good as these run lengths can show.",
        f"- collision: a non-bonded bead pair closer than {s['collision_threshold_nm']} nm; the "
        "rate is collided bead-steps / (beads x steps), every model step of every rollout.",
        "- closest approach: per stored frame, the distance of the closest non-bonded bead "
        "pair; close contacts: the fraction of CG frames closer than the closest approach in "
        "any reference frame (where the reference never goes; resolvable with few frames, "
        "unlike the collision rate).",
        "- stretched bonds: the fraction of CG frames with a bond longer than the longest bond "
        "in any reference frame, the bonded counterpart of close contacts: the tail that rare "
        "blow-ups come from. Both fractions grow as the reference gets shorter.",
        "- stable: a rollout that completed all steps with no collision and no blow-up "
        "(non-finite positions or a bond stretched beyond the limit); stable after n steps: "
        "no collision or blow-up in the first n steps (the last mark is the runs' length, "
        "where it is the strict figure again).",
        "- JS: Jensen-Shannon divergence (base 2, 0 = identical, 1 = disjoint) between "
        "histograms on a common grid; TICA is fitted on the reference (inter-bead distance "
        f"features, lag {s['tica_lag_frames']} frames) and both sets are projected on it.",
        "",
        "## Figures",
        "",
    ]
    for kind, files in figures.items():
        for f in files:
            lines.append(f"![{kind}]({f})")
            lines.append("")
    prot = [
        n
        for n in sorted(metrics["systems"])
        if "rmsd_mean_nm" in metrics["systems"][n]["reference"]
    ]
    if prot:
        lines += [
            "## Proteins: structure",
            "",
            "| molecule | RMSD ref (nm) | RMSD CG (nm) | Q ref | Q CG | JS RMSD | JS Q |",
            "|---|---|---|---|---|---|---|",
        ]
        for n in prot:
            d = metrics["systems"][n]
            lines.append(
                f"| {n} | {_fmt(d['reference'].get('rmsd_mean_nm'))} | "
                f"{_fmt(d['cg'].get('rmsd_mean_nm'))} | {_fmt(d['reference'].get('q_mean'))} | "
                f"{_fmt(d['cg'].get('q_mean'))} | {_fmt(d['comparison'].get('rmsd_js'))} | "
                f"{_fmt(d['comparison'].get('q_js'))} |"
            )
        lines += [
            "",
            "RMSD after optimal superposition onto the reference structure (the "
            "mapping's structure, else the first reference frame); Q with the smooth "
            "switch of Best, Hummer & Eaton (beta 50 nm^-1, lambda 1.5, native pairs "
            "closer than the contact cutoff, |i-j| > 3).",
            "",
        ]
    missing = metrics.get("missing", {})
    if missing.get("only_cg") or missing.get("only_reference"):
        lines += [
            "## Not compared",
            "",
            f"- only CG: {missing.get('only_cg')}",
            f"- only reference: {missing.get('only_reference')}",
            "",
        ]
    lines += ["## Settings", "", "```json", json.dumps(_jsonable(s), indent=2), "```", ""]
    return atomic_write(Path(out_dir) / "report.md", "\n".join(lines))
