"""Load candidates: the service saturated by its own request rate, not by a change of mix.

Split from ``candidates`` (same :class:`Candidate` output).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tailsight.analysis.candidates import Candidate
from tailsight.analysis.evidence import Phases, change
from tailsight.analysis.topology import Topology
from tailsight.model import Evidence


def mix_explains(operations: pd.DataFrame | None, phases: Phases, slower: float = 1.3) -> bool:
    """Whether a change of the request mix, not its rate, explains the rise.

    With two or more operations, a load surge slows each of them; when the operations
    that carry the requests kept their own p99 (request-weighted rise under ``slower``)
    the service got slower only because heavier operations became more common.
    """
    if operations is None or operations.empty or operations["operation"].nunique() < 2:
        return False
    rises, weights = [], []
    for _, rows in operations.groupby("operation"):
        series = rows.set_index("window")
        p99 = change(series["p99_ms"], phases)
        count = change(series["requests"].astype(float), phases)
        if p99 is None or count is None or p99.baseline <= 0:
            continue
        rises.append(p99.during / p99.baseline)
        weights.append(count.during)
    if len(rises) < 2 or sum(weights) <= 0:
        return False
    return float(np.average(rises, weights=weights)) < slower


def _beyond_noise(requests: pd.Series, phases: Phases, bucket_s: float, z: float = 3.0) -> bool:
    """Whether the requests during the spike exceed the baseline rate beyond Poisson noise.

    A thin service has windows without requests (absent from ``requests``, counted as
    0 here) and a few in the others: the median of its windows with requests says
    nothing about its rate, and 14 requests where 10 were expected is chance.
    """
    step = pd.Timedelta(seconds=bucket_s)
    index = requests.index
    before = requests[(index >= phases.baseline_start) & (index < phases.baseline_end)]
    during = requests[(index >= phases.onset) & (index < phases.until)]
    n_before = max(1.0, (phases.baseline_end - phases.baseline_start) / step)
    n_during = max(1.0, (phases.until - phases.onset) / step)
    expected = float(before.sum()) / n_before * n_during
    if expected <= 0:
        return False
    return (float(during.sum()) - expected) / np.sqrt(expected) >= z


def load_surge(
    topo: Topology,
    requests: pd.Series,
    phases: Phases,
    operations: pd.DataFrame | None = None,
) -> list[Candidate]:
    """The service's own request rate rose: ``requests`` is its request count per window.

    Not when the rise is a change of mix (``mix_explains``): more requests of a slow
    operation make the p99 rise without saturating anything.
    """
    ch = change(requests, phases)
    if ch is None or ch.baseline <= 0 or ch.rise(0.0) < 1.25:
        return []
    if mix_explains(operations, phases):
        return []
    rise = ch.rise(0.0)
    steps = requests.index.to_series().diff().dropna()
    bucket = float(steps.median().total_seconds()) if len(steps) else 10.0
    if not _beyond_noise(requests, phases, bucket):
        return []
    ev = Evidence(
        "requests",
        topo.service,
        round(ch.baseline / bucket, 3),
        round(ch.during / bucket, 3),
        "{request}/s",
    )
    return [
        Candidate(
            "load_surge",
            "service",
            topo.service,
            min(3.0, 2.5 * (rise - 1.0)),
            frozenset(r.id for r in topo.replicas),
            f"request rate of {topo.service} rose {rise:.1f}x to {ch.during / bucket:.0f}/s",
            (ev,),
        )
    ]
