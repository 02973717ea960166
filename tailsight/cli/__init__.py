"""The ``tailsight`` command line: one entry point, one module per command.

Each command module has ``register(subparsers)`` that adds its parser and sets
``handler`` to a function ``(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from tailsight import __version__, logs
from tailsight.config import ConfigError

# Command modules, in the order `tailsight --help` lists them.
COMMANDS = (
    "up",
    "demo",
    "sim",
    "migrate",
    "incidents",
    "analyze",
    "alerts",
    "slo",
    "report",
    "agent",
    "switch_poller",
)


class CliError(Exception):
    """An error the user can fix; printed as one line, exit status 2."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` alone.

    Only the command that runs is imported: the node agent on a GPU node then loads
    neither the store's driver nor pandas (about half its memory).
    """
    parser = argparse.ArgumentParser(
        prog="tailsight",
        description="Observability and SLOs for ML inference fleets: "
        "finds tail-latency spikes and names their cause.",
    )
    parser.add_argument("--version", action="version", version=f"tailsight {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if command is None or name == command:
            importlib.import_module(f"tailsight.cli.{name}").register(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command module that ``argv`` names, if its first word is one."""
    module = argv[0].replace("-", "_") if argv else None
    return module if module in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", None) and args.log_level.upper() or logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logs.install()  # repeated lines (a flood of bad clients) are rate-limited
    try:
        return int(args.handler(args))
    except (CliError, ConfigError) as exc:
        print(f"tailsight {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
