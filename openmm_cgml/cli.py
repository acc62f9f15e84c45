"""The ``cgml`` command. Each subcommand lives in the layer it belongs to.

A layer that offers subcommands has a module ``openmm_cgml/<layer>/cli.py`` with
``register(subparsers) -> None`` that adds its parsers and sets ``func=`` on each of
them (``func(args) -> int`` is the exit status). Modules are imported lazily so that
``cgml map`` does not pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, commands it registers) -- the command names are listed here so that
# ``cgml --help`` works without importing every layer.
_LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("openmm_cgml.mapping.cli", ("map",)),
    ("openmm_cgml.reference.cli", ("generate",)),
    ("openmm_cgml.training.cli", ("train",)),
    ("openmm_cgml.export.cli", ("export",)),
    ("openmm_cgml.simulation.cli", ("simulate",)),
    ("openmm_cgml.evaluation.cli", ("evaluate", "fit-noise")),
]


class CLIError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cgml",
        description="Learned coarse-grained molecular dynamics inside OpenMM.",
    )
    from openmm_cgml import __version__

    parser.add_argument("--version", action="version", version=f"openmm-cgml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, commands in _LAYERS:
        if only is not None and only not in commands:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    known = {c for _, cmds in _LAYERS for c in cmds}
    parser = build_parser(only=first if first in known else None)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, FileNotFoundError) as exc:
        print(f"cgml {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cgml {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
