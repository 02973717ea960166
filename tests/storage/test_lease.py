"""The analyzer lease on the real embedded engine: several clients in one process, and a killed holder.

The embedded store admits one process at a time, so clients that race share this
process's store (each thread has its own driver client, as in ``tailsight up``); the
killed holder is a child process that held the store and the lease when it was killed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tailsight.storage import Store, open_store
from tailsight.storage.lease import Lease, read_lease, write_claim
from tailsight.storage.migrations import migrate
from tests.conftest import REPO


def _claims(store: Store, name: str) -> list[tuple[int, str]]:
    return [
        (int(t), str(h))
        for t, h in store.rows(
            "SELECT Term, Holder FROM tailsight_leases WHERE Name = {n:String} ORDER BY Term",
            {"n": name},
        )
    ]


def test_a_term_is_claimed_once(store: Store) -> None:
    store.command("SYSTEM STOP MERGES tailsight_leases")  # merges keep only the newest term
    write_claim(store, "x", 1, "p", 5.0)
    write_claim(store, "x", 1, "q", 5.0)  # same term: the store drops it
    write_claim(store, "x", 2, "q", 5.0)
    assert _claims(store, "x") == [(1, "p"), (2, "q")]
    state = read_lease(store, "x")
    assert state is not None and (state.term, state.holder) == (2, "q")
    assert not state.expired and state.expires_at > state.now
    store.command("SYSTEM START MERGES tailsight_leases")
    store.command("OPTIMIZE TABLE tailsight_leases FINAL")
    assert _claims(store, "x") == [(2, "q")]  # the table stays a row per lease


def test_racing_clients_one_holder_per_round(store: Store) -> None:
    store.command("SYSTEM STOP MERGES tailsight_leases")  # every claim stays readable
    clients = [Lease(store, "analyzer", ttl_s=30.0, holder=f"c{i}") for i in range(4)]
    barrier = threading.Barrier(len(clients))
    held: list[list[str]] = []
    errors: list[BaseException] = []

    def run(client: Lease, results: list[str]) -> None:
        try:
            barrier.wait()
            if client.step():
                results.append(client.holder)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    for _ in range(5):
        results: list[str] = []
        threads = [threading.Thread(target=run, args=(c, results)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        held.append(results)
        assert sum(c.held() for c in clients) == 1, results
    first = held[0][0]
    # The first winner renews every round; nobody else wins while its claims are fresh.
    assert all(r == [first] for r in held), held
    terms = _claims(store, "analyzer")
    assert [t for t, _ in terms] == list(range(1, len(terms) + 1))  # one claim per term
    assert {h for _, h in terms} == {first}


def test_takeover_after_expiry_and_late_renewal_loses(store: Store) -> None:
    a = Lease(store, "analyzer", ttl_s=1.5, holder="a")
    b = Lease(store, "analyzer", ttl_s=1.5, holder="b")
    assert a.step() and not b.step()
    assert a.margin_s == pytest.approx(0.25)
    claimed = a.last
    assert claimed is not None and claimed.holder == "a"
    # a stops renewing (it died or froze): b takes over once a's claim has expired.
    started = time.monotonic()
    while not b.step():
        assert time.monotonic() - started < 30
        time.sleep(0.1)
    assert not a.held(), "the old holder's deadline passed before the takeover"
    assert b.last is not None and b.last.claimed_at >= claimed.expires_at
    # a wakes up and renews: its claim of the next term meets b's term, unexpired.
    assert not a.step() and b.held()
    state = read_lease(store, "analyzer")
    assert state is not None and state.holder == "b"


def test_release_hands_over_at_once(store: Store) -> None:
    a = Lease(store, "analyzer", ttl_s=60.0, holder="a")
    b = Lease(store, "analyzer", ttl_s=60.0, holder="b")
    assert a.step() and not b.step()
    a.release()
    assert not a.held()
    assert b.step()


def test_holder_stops_at_its_deadline_when_the_store_fails(tmp_path: Path) -> None:
    store = open_store(f"chdb://{tmp_path / 'store'}")
    migrate(store, 30)
    lease = Lease(store, "analyzer", ttl_s=1.2, holder="a")
    assert lease.step()
    store.close()
    assert lease.step()  # the renewal failed, but the deadline it earned is still ahead
    time.sleep(lease.seconds_left() + 0.05)
    assert not lease.step() and not lease.held()


HOLDER = """
import sys, time
from tailsight.storage import open_store
from tailsight.storage.lease import Lease
from tailsight.storage.migrations import migrate
store = open_store(sys.argv[1]); migrate(store, 30)
lease = Lease(store, "analyzer", ttl_s=float(sys.argv[2]), holder="child")
assert lease.step()
print("held", flush=True)
while True:
    time.sleep(lease.ttl_s / 3)
    lease.step()
"""


def test_killed_holder_is_taken_over_within_its_ttl(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'store'}"
    ttl = 6.0
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, str(ttl)], stdout=subprocess.PIPE, cwd=REPO
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"held"
        time.sleep(ttl / 2)  # it has renewed at least once
    finally:
        child.kill()  # SIGKILL: no release, no clean close
        child.wait(30)
    killed = time.monotonic()
    store = open_store(url)  # the lock died with it
    try:
        successor = Lease(store, "analyzer", ttl_s=ttl, holder="successor")
        state = read_lease(store, "analyzer")
        assert state is not None and state.holder == "child" and state.term >= 2
        if not state.expired:
            assert not successor.step(), "a live claim of the dead holder was taken"
        while not successor.step():
            assert time.monotonic() - killed < 60
            time.sleep(ttl / 3)
        assert time.monotonic() - killed < 60  # the bound; at most ttl + ttl / 3 here
        assert successor.last is not None and successor.last.claimed_at >= state.expires_at
        after = read_lease(store, "analyzer")
        assert after is not None and after.term == state.term + 1
    finally:
        store.close()
