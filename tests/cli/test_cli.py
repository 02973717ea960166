from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tailsight.cli import build_parser, main
from tailsight.storage.migrations import MIGRATIONS
from tests.conftest import REPO


def _command_names() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", _command_names())
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: tailsight {command}" in capsys.readouterr().out


def test_incidents_without_server_opens_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["incidents", "--data-dir", str(tmp_path), "--json", "--since", "1h"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["incidents", "--data-dir", str(tmp_path)]) == 0
    assert "no incidents" in capsys.readouterr().out


def test_bad_time_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--data-dir", str(tmp_path), "--from", "soon"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tailsight analyze: ") and "\n" not in err


def test_migrate_print_cluster_ddl() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tailsight", "migrate", "--print", "--cluster", "fleet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    assert "CREATE TABLE IF NOT EXISTS otel.otel_traces_local ON CLUSTER fleet" in out.stdout
    assert "ENGINE = Distributed(fleet, otel, otel_traces_local, cityHash64(TraceId))" in out.stdout


def test_migrate_applies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    assert f"schema at version {MIGRATIONS[-1].version}" in capsys.readouterr().out
