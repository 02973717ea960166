"""A lease in the store: one holder at a time for work that must run once (the analyzer role).

ClickHouse has no compare-and-swap. What it has is insert deduplication: an insert whose
``insert_deduplication_token`` is already in the table's deduplication log is dropped,
and on replicated tables that check and the commit are one ClickHouse Keeper transaction.
The protocol builds on that (docs/leases.md gives the argument and its assumptions):

- The lease is a sequence of terms. Claiming term ``N`` inserts one row with the token
  ``lease:<name>:<N>``; of several claims of ``N`` at most one is stored, and every
  claimer reads back which one. Renewing is claiming the next term, so a late renewal and
  a takeover of the same term cannot both succeed.
- A process claims the term after the newest one only when that one has expired on the
  store's clock (``ClaimedAt`` is the store's ``now64()`` at the insert) or is its own.
- The holder acts only until ``sent + ttl - margin`` on its own monotonic clock, ``sent``
  taken before the claim was written, so it has stopped before anyone can see its term
  expire, given clocks that agree within ``margin``.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tailsight.storage.store import Store, StoreError

log = logging.getLogger(__name__)

TABLE = "tailsight_leases"
COLUMNS = ("Name", "Term", "Holder", "TtlMs")

# On a cluster: the claim reaches its shard before the insert returns, and claims and reads
# go to the shard's first live replica, so a claimer normally reads its own claim back.
# Safety needs neither (a lagging replica only makes a winner think it lost, for a step);
# no quorum, so the lease lives on while any replica of its shard does (docs/leases.md).
CLUSTER_INSERT = {"insert_distributed_sync": 1, "load_balancing": "in_order"}
CLUSTER_SELECT = " SETTINGS load_balancing = 'in_order'"


@dataclass(frozen=True)
class LeaseState:
    """The newest term of a lease as the store answered, with the store's clock at the read."""

    name: str
    term: int
    holder: str
    ttl: timedelta
    claimed_at: datetime
    now: datetime

    @property
    def expires_at(self) -> datetime:
        return self.claimed_at + self.ttl

    @property
    def expired(self) -> bool:
        return self.now >= self.expires_at


def read_lease(store: Store, name: str) -> LeaseState | None:
    """The newest term of ``name`` (its first claim, should a claim ever escape deduplication)."""
    rows = store.rows(
        f"SELECT Term, Holder, TtlMs, ClaimedAt, now64(6) FROM {TABLE} "
        "WHERE Name = {name:String} ORDER BY Term DESC, ClaimedAt ASC, Holder ASC LIMIT 1"
        + (CLUSTER_SELECT if store.cluster else ""),
        {"name": name},
    )
    if not rows:
        return None
    term, holder, ttl_ms, claimed_at, now = rows[0]
    return LeaseState(
        name, int(term), str(holder), timedelta(milliseconds=int(ttl_ms)), claimed_at, now
    )


def write_claim(store: Store, name: str, term: int, holder: str, ttl_s: float) -> None:
    """Insert a claim of ``term``; dropped by the store if that term was already claimed."""
    settings: dict[str, object] = {
        "insert_deduplicate": 1,
        "insert_deduplication_token": f"lease:{name}:{term}",
    }
    if store.cluster:
        settings.update(CLUSTER_INSERT)
    store.insert(TABLE, [(name, term, holder, int(ttl_s * 1000))], COLUMNS, settings=settings)


def process_identity() -> str:
    """``host/pid/random``: unique per process start, so a restarted process is a new holder."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


class Lease:
    """One process's side of a lease: :meth:`step` claims or renews, :meth:`held` says whether to act.

    Args:
        store: where the lease lives.
        name: the lease (e.g. ``analyzer``).
        ttl_s: how long a claim lasts on the store's clock; a dead holder's lease is taken
            over at most ``ttl_s`` after its last claim, plus the waiter's step interval.
        margin_s: the holder stops acting this long before its claim expires, covering
            clock skew between hosts and the store's nodes (default ``ttl_s / 6``).
        holder: this process's identity (default :func:`process_identity`).
        clock: a monotonic clock in seconds.
    """

    def __init__(
        self,
        store: Store,
        name: str,
        ttl_s: float = 30.0,
        margin_s: float | None = None,
        holder: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"lease ttl must be positive, not {ttl_s}")
        self.store = store
        self.name = name
        self.ttl_s = ttl_s
        self.margin_s = ttl_s / 6 if margin_s is None else margin_s
        self.holder = holder or process_identity()
        self.term: int | None = None
        self.last: LeaseState | None = None
        self._clock = clock
        self._deadline: float | None = None

    def held(self) -> bool:
        """Whether this process may act now: it won the current term and its deadline is ahead."""
        return self._deadline is not None and self._clock() < self._deadline

    def seconds_left(self) -> float:
        """Seconds until this process must stop acting (0 when it does not hold the lease)."""
        return max(0.0, self._deadline - self._clock()) if self._deadline is not None else 0.0

    def step(self) -> bool:
        """Renew the lease if held, claim it if free or expired; returns :meth:`held` after."""
        try:
            state = self.last = read_lease(self.store, self.name)
            if state is not None and state.holder != self.holder and not state.expired:
                self._deadline = None  # someone else holds it
                return False
            term = 1 if state is None else state.term + 1
            sent = self._clock()
            write_claim(self.store, self.name, term, self.holder, self.ttl_s)
            after = self.last = read_lease(self.store, self.name)
        except StoreError as exc:
            # Keep acting only until the deadline already earned; a renewal may follow.
            log.warning(
                "lease %s: store error (%s); held for %.1fs more",
                self.name,
                exc,
                self.seconds_left(),
            )
            return self.held()
        if after is not None and after.term == term and after.holder == self.holder:
            if self.term is None or term != self.term + 1:
                log.info("lease %s: holding from term %d", self.name, term)
            self.term = term
            self._deadline = sent + self.ttl_s - self.margin_s
        else:
            if self._deadline is not None:
                log.warning(
                    "lease %s: lost (term %s held by %s)",
                    self.name,
                    after and after.term,
                    after and after.holder,
                )
            self._deadline = None
        return self.held()

    def release(self) -> None:
        """Stop acting, then end the term at once so a successor need not wait for it to expire."""
        if self._deadline is None or self.term is None:
            return
        self._deadline = None
        try:
            write_claim(self.store, self.name, self.term + 1, "", 0.0)
        except StoreError as exc:
            log.warning("lease %s: not released (%s); it expires on its own", self.name, exc)
