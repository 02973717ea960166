"""``tailsight migrate``: apply the schema, or print it (``--print``) for a cluster."""

from __future__ import annotations

import argparse

from tailsight.cli.common import add_store_flags, opened_store, settings_from
from tailsight.storage.ddl import Target
from tailsight.storage.migrations import applied_versions, render_schema


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "migrate",
        help="create or upgrade the schema",
        description="Apply the numbered schema migrations to the store (idempotent). "
        "With --print, write the DDL to standard output instead of applying it: with "
        "--cluster NAME that is the ON CLUSTER / Replicated / Distributed schema.",
    )
    add_store_flags(parser)
    parser.add_argument("--print", action="store_true", help="print the DDL instead of applying it")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.print:
        target = Target(settings.database, settings.cluster, settings.ttl_days)
        print(";\n\n".join(render_schema(target)) + ";")
        return 0
    with opened_store(settings) as store:
        versions = sorted(applied_versions(store))
        print(
            f"schema at version {versions[-1]} in {store.display_url} (database {store.database})"
        )
    return 0
