"""Flags shared by commands, and turning parsed flags into settings and a store."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tailsight.cli import CliError
from tailsight.config import Settings, load_settings

if TYPE_CHECKING:
    from tailsight.storage.store import Store


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="TOML or YAML settings file (also TAILSIGHT_CONFIG)"
    )
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="log verbosity"
    )


def add_store_flags(parser: argparse.ArgumentParser) -> None:
    add_config_flag(parser)
    group = parser.add_argument_group("store")
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help="embedded store directory (default ~/.local/share/tailsight; TAILSIGHT_DATA_DIR)",
    )
    group.add_argument(
        "--store",
        metavar="URL",
        help="ClickHouse server instead of the embedded store: http(s)://user:pass@host:8123/db",
    )
    group.add_argument("--database", help="database name (default otel)")
    group.add_argument(
        "--cluster", metavar="NAME", help="render the schema for this ClickHouse cluster"
    )
    group.add_argument(
        "--ttl-days", type=int, help="keep telemetry this many days; 0 keeps it forever"
    )


def add_api_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        dest="api_url",
        metavar="URL",
        help="talk to a running `tailsight up` at this URL instead of opening the store",
    )
    parser.add_argument("--token", help="bearer token of the API (TAILSIGHT_TOKEN)")


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the parsed flags, the environment and the config file."""
    names = set(Settings.__dataclass_fields__)
    flags: dict[str, Any] = {k: v for k, v in vars(args).items() if k in names}
    return load_settings(flags, config_file=getattr(args, "config", None))


@contextmanager
def opened_store(settings: Settings, *, api_url: str | None = None) -> Iterator[Store]:
    """The store, opened and migrated, closed at the end; errors become one-line CLI errors."""
    # Imported here: the store's driver is not loaded by commands that never open it.
    from tailsight.storage.migrations import migrate
    from tailsight.storage.store import StoreError, open_store

    try:
        store = open_store(
            settings.store_url, settings.database, cluster=settings.cluster, api_url=api_url
        )
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        migrate(store, settings.ttl_days)
        yield store
    except StoreError as exc:
        raise CliError(f"store error: {exc}") from None
    finally:
        store.close()
