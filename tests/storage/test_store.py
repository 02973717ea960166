from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tailsight.storage import Store, StoreError, StoreLocked, open_store
from tailsight.storage.lock import current_holder


def test_second_open_in_another_process_names_the_holder(tmp_path: Path) -> None:
    data = tmp_path / "d"
    with open_store(f"chdb://{data}", api_url="http://127.0.0.1:9999"):
        holder = current_holder(data)
        assert holder is not None and holder.api_url == "http://127.0.0.1:9999"
        code = (
            "from tailsight.storage import open_store, StoreLocked\n"
            f"try:\n    open_store('chdb://{data}')\n"
            "except StoreLocked as e:\n    print(e); raise SystemExit(3)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 3, out.stderr
        assert "tailsight.lock" in out.stdout and "is in use by process" in out.stdout
    assert current_holder(data) is None


def test_lock_is_released_when_holder_is_killed(tmp_path: Path) -> None:
    data = tmp_path / "d"
    code = (
        f"from tailsight.storage import open_store; s = open_store('chdb://{data}'); "
        "print('ok', flush=True); input()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
        with pytest.raises(StoreLocked):
            open_store(f"chdb://{data}")
    finally:
        proc.kill()
        proc.wait()
    with open_store(f"chdb://{data}") as s:
        assert s.rows("SELECT 1")[0][0] == 1


def test_bad_urls_are_clear() -> None:
    with pytest.raises(StoreError, match="unsupported store URL"):
        open_store("postgres://x")
    with pytest.raises(StoreError, match="invalid database name"):
        open_store("chdb:///tmp/x-never", database="a;b")


def test_unreachable_server_is_one_line_error() -> None:
    with pytest.raises(StoreError, match="127.0.0.1:1") as info:
        open_store("http://default:@127.0.0.1:1/otel")
    assert "\n" not in str(info.value)


def test_query_errors_become_store_errors(store: Store) -> None:
    with pytest.raises(StoreError, match="UNKNOWN_TABLE|Unknown table"):
        store.rows("SELECT * FROM no_such_table")
