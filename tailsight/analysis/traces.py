"""Trace-aware localisation: where in the call tree the added latency sits.

Two rules, both pure over frames the ``storage`` queries return:

- :func:`deepest_downstream` follows the call tree down: from the spiking service to
  the callee whose SERVER spans hold at least half of the added latency, then from that
  callee to its own callees, and so on, so a slow service three calls deep is named
  rather than the first one on the way to it.
- :func:`wire_delay` compares each CLIENT span with the SERVER span it called: time on
  the wire (client minus server) that grew while the time in the callee did not is
  network delay to that callee, found from traces alone where no NIC or switch counter
  shows it (CONTRACT §4: ``network_congestion``, culprit the callee's ``pod``, or its
  ``service`` when every pod of it is reached slower).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from tailsight.analysis.candidates import Candidate
from tailsight.analysis.scoring import sig
from tailsight.model import Evidence


def deepest_downstream(
    service: str,
    added_ms: float,
    downstream_of: Callable[[str], pd.DataFrame],
    target: Callable[[pd.DataFrame, float], str | None],
    max_depth: int = 4,
) -> str | None:
    """The deepest service down the call tree that holds most of ``added_ms``, or None.

    ``downstream_of(s)`` gives ``downstream_latency`` rows of the services ``s`` calls;
    ``target(rows, added_ms)`` picks the one holding the added latency (``downstream_target``).
    """
    found: str | None = None
    seen = {service}
    current = service
    for _ in range(max_depth):
        nxt = target(downstream_of(current), added_ms)
        if nxt is None or nxt in seen:
            break
        seen.add(nxt)
        found = current = nxt
    return found


def wire_delay(
    gaps: pd.DataFrame,
    added_ms: float,
    reach: frozenset[str],
    share: float = 0.25,
    min_rise: float = 3.0,
) -> list[Candidate]:
    """Callees reached slower on the wire, from ``client_server_gaps`` rows.

    A pod counts when its mean wire time grew ``min_rise`` times (over a 5 ms floor), by
    at least ``share`` of the caller's added p99, and by more than twice what its own
    server time grew. All pods of a callee slower: the callee's ``service`` is named.
    """
    if gaps.empty or added_ms <= 0:
        return []
    out: list[Candidate] = []
    for callee, rows in gaps.groupby("callee"):
        slow: list[tuple[str, float, float, float]] = []
        pods = 0
        for pod, prow in rows.groupby("pod"):
            phases = {str(p): r for p, r in prow.groupby("phase")}
            if "before" not in phases or "during" not in phases:
                continue
            pods += 1
            before, during = phases["before"], phases["during"]
            w0 = _mean(before, "wire_ms")
            w1 = _mean(during, "wire_ms")
            s0, s1 = _mean(before, "server_ms"), _mean(during, "server_ms")
            grew = w1 - w0
            if (w1 + 5.0) / (w0 + 5.0) >= min_rise and grew >= share * added_ms:
                if grew > 2.0 * max(0.0, s1 - s0):
                    slow.append((str(pod), w0, w1, grew))
        if not slow:
            continue
        if len(slow) == pods and pods > 1:
            etype, eid = "service", str(callee)
        else:
            etype, eid = "pod", max(slow, key=lambda s: s[3])[0]
        w0 = sum(s[1] for s in slow) / len(slow)
        w1 = sum(s[2] for s in slow) / len(slow)
        out.append(
            Candidate(
                "network_congestion",
                etype,
                eid,
                sig((w1 + 5.0) / (w0 + 5.0)) + 0.5,
                reach,
                f"calls to {eid} spend {w1:.0f} ms on the wire (was {w0:.0f} ms) while "
                f"{callee} itself stayed as fast: delay between the services",
                (Evidence("span.client_server_gap", eid, round(w0, 3), round(w1, 3), "ms"),),
                service=str(callee),
            )
        )
    return out


def _mean(rows: pd.DataFrame, column: str) -> float:
    weights = rows["calls"].astype(float)
    total = float(weights.sum())
    return float((rows[column].astype(float) * weights).sum() / total) if total > 0 else 0.0
