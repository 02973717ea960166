"""LLM latency SLIs in detection and attribution: TTFT/TPOT per model, output length discounted.

For a generative service the p99 of request duration mostly measures output length: a
burst of long answers doubles it while every user still gets the first token as fast
and tokens at the same pace. So for services with LLM request spans (CONTRACT §3, LLM
latency):

- spikes are detected on time to first token (TTFT) and time per output token (TPOT),
  per (service, model), with the same rules as request duration (``spikes``);
- a spike of request duration is dropped when an SLI spike of the same service overlaps
  it (that incident names what got slow), or when output length explains it: output
  tokens per request rose by ``min_token_rise`` or more while TTFT and TPOT p99 did not
  rise by ``max_sli_rise`` (then e2e = TTFT + TPOT x tokens grew with the tokens only;
  the incident's own p99 is one window's maximum, too noisy to compare the rise with, so
  a slowdown outside the engine during such a burst is not told apart: a known limit);
- :func:`queue_saturation` proposes a cause for TTFT spikes: requests waiting in the
  engine's queue (``gen_ai.latency.time_in_queue``) for most of the added TTFT, with no
  more requests than before, is the service saturated by its own load (more tokens per
  request: KV-cache pressure), CONTRACT §4 ``load_surge``; the GPU candidates compete
  with it, so a neighbor on the GPU behind the queue wins where there is one.

Pure: frames in (``storage.queries_llm.llm_latency_windows``), incidents out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd

from tailsight.analysis.candidates import Candidate
from tailsight.analysis.evidence import Phases, change
from tailsight.analysis.scoring import sig
from tailsight.analysis.spikes import SUPPORT_LEVELS, SpikeParams, detect_multiscale, support_column
from tailsight.analysis.topology import Topology
from tailsight.model import Evidence, Incident

SLIS = ("ttft", "tpot")
SLI_RATIO = 3.0  # the least p99 rise over baseline an SLI spike needs (see detect_llm)
# The phases evidence compares for an incident found on windows of ``bucket_s``.
PhasesOf = Callable[[Incident, int], Phases]


@dataclass(frozen=True)
class LengthRule:
    """When a duration spike counts as explained by output length."""

    min_token_rise: float = 1.3  # output tokens per request, during / before
    max_sli_rise: float = 1.5  # TTFT and TPOT p99 must stay under this rise


def sli_frame(llm: pd.DataFrame, sli: str) -> pd.DataFrame:
    """``llm`` rows of one model as the frame ``spikes.detect_spikes`` reads, for ``sli``."""
    if sli not in SLIS:
        raise ValueError(f"unknown LLM SLI {sli!r}; known: {', '.join(SLIS)}")
    cols = {
        "service": "service",
        "window": "window",
        "requests": "requests",
        "requests_smooth": "requests_smooth",
        f"{sli}_p99_ms": "p99_ms",
        f"{sli}_p99_smooth_ms": "p99_smooth_ms",
        **{f"{sli}_{support_column(q)}": support_column(q) for q in SUPPORT_LEVELS},
    }
    present = {k: v for k, v in cols.items() if k in llm.columns}
    return llm[list(present)].rename(columns=present)


def detect_llm(
    frames: Mapping[int, pd.DataFrame],
    start: datetime,
    end: datetime,
    params: SpikeParams | None = None,
) -> list[tuple[int, Incident]]:
    """SLI incidents per (service, model) from ``llm_latency_windows`` frames by window length.

    The rules are request duration's with a ratio of at least ``SLI_RATIO``: TTFT's p99 is
    mostly queue wait, which swings with load far more than whole requests do (a busy
    hour's thin coarse windows lift it 2.6x), while the faults it must catch lift it 7x
    (KV-cache pressure) to 70x (a starved or shared GPU). For the same reason a young SLI
    spike at the live edge needs two strong windows, not one: the live-edge replay of a
    quiet day (``bench/alert_quiet_day.py``) covers request duration only.
    """
    base = params or SpikeParams()
    params = replace(
        base,
        ratio=max(base.ratio, SLI_RATIO),
        fast_ratio=max(base.fast_ratio, SLI_RATIO),
        fast_windows=max(base.fast_windows, 2),
        fast_body_ratio=max(base.fast_body_ratio, SLI_RATIO),
    )
    finest = frames[min(frames)] if frames else pd.DataFrame()
    if finest.empty:
        return []
    out: list[tuple[int, Incident]] = []
    for model in sorted(str(m) for m in finest["model"].unique()):
        for sli in SLIS:
            per_scale = {
                bucket: sli_frame(frame[frame["model"] == model], sli)
                for bucket, frame in frames.items()
                if not frame.empty
            }
            for bucket, inc in detect_multiscale(per_scale, start, end, params):
                out.append((bucket, replace(inc, sli=sli, model=model)))
    return out


def _overlaps(a: Incident, b: Incident, end: datetime) -> bool:
    return a.start < (b.end or end) and b.start < (a.end or end)


def explained_by_length(
    incident: Incident, llm: pd.DataFrame, phases: Phases, rule: LengthRule | None = None
) -> str | None:
    """Why output length explains ``incident`` (a duration spike), or None when it does not."""
    rule = rule or LengthRule()
    mine = llm[llm["service"] == incident.service]
    if mine.empty:
        return None
    per_window = mine.groupby("window")[["requests", "output_tokens"]].sum()
    tokens = change(per_window["output_tokens"] / per_window["requests"].clip(lower=1), phases)
    if tokens is None or tokens.baseline <= 0:
        return None
    token_rise = tokens.during / tokens.baseline
    if token_rise < rule.min_token_rise:
        return None
    for sli in SLIS:
        # The slowest model's SLI: one model's TTFT rising is not explained by anyone's length.
        for _, rows in mine.groupby("model"):
            ch = change(rows.set_index("window")[f"{sli}_p99_ms"], phases)
            if ch is not None and ch.baseline > 0 and ch.during / ch.baseline >= rule.max_sli_rise:
                return None
    return (
        f"output tokens per request rose {token_rise:.1f}x "
        f"({tokens.baseline:.0f} -> {tokens.during:.0f}) with TTFT and TPOT steady"
    )


def reconcile(
    duration: list[tuple[int, Incident]],
    slis: list[tuple[int, Incident]],
    llm: pd.DataFrame,
    phases_of: PhasesOf,
    end: datetime,
) -> tuple[list[tuple[int, Incident]], list[tuple[Incident, str]]]:
    """Duration and SLI incidents together, without the duration spikes LLM SLIs account for.

    Returns the incidents kept and the dropped ones with the reason (for the log).
    """
    generative = set(llm["service"]) if not llm.empty else set()
    slis, dropped = _one_per_slowdown(slis, end)
    kept: list[tuple[int, Incident]] = []
    for bucket, inc in duration:
        if inc.service not in generative:
            kept.append((bucket, inc))
            continue
        same = [s for _, s in slis if s.service == inc.service and _overlaps(inc, s, end)]
        if same:
            dropped.append((inc, f"reported on {same[0].sli} of {same[0].model}"))
            continue
        why = explained_by_length(inc, llm, phases_of(inc, bucket))
        if why:
            dropped.append((inc, why))
            continue
        kept.append((bucket, inc))
    return kept + slis, dropped


def _one_per_slowdown(
    slis: list[tuple[int, Incident]], end: datetime
) -> tuple[list[tuple[int, Incident]], list[tuple[Incident, str]]]:
    """One incident per (service, model) slowdown: a TPOT spike during a TTFT one is the same.

    A GPU slowed by a neighbor delays both the first token and every next one; the TTFT
    incident (earliest first) speaks for both, a TPOT-only spike stays.
    """
    order = sorted(slis, key=lambda bi: (bi[1].start, SLIS.index(bi[1].sli)))
    kept: list[tuple[int, Incident]] = []
    dropped: list[tuple[Incident, str]] = []
    for bucket, inc in order:
        same = [
            k
            for _, k in kept
            if k.service == inc.service and k.model == inc.model and _overlaps(k, inc, end)
        ]
        if same:
            dropped.append((inc, f"reported on {same[0].sli} of {same[0].model}"))
        else:
            kept.append((bucket, inc))
    return kept, dropped


QUEUE_EVIDENCE = "gen_ai.latency.time_in_queue"


def is_queueing(candidate: Candidate) -> bool:
    """Whether ``candidate`` is :func:`queue_saturation`'s (attribution explains it away)."""
    return bool(candidate.evidence) and candidate.evidence[0].metric == QUEUE_EVIDENCE


def queue_saturation(topo: Topology, llm: pd.DataFrame | None, phases: Phases) -> list[Candidate]:
    """Requests waited in the engine's queue for most of the added TTFT, at no higher rate.

    ``llm``: the service's ``llm_latency_windows`` rows. A rising request rate is
    ``load.load_surge``'s to name; this one names the load of the requests themselves
    (KV-cache pressure from longer prompts or outputs) and says how input tokens moved.
    """
    if llm is None or llm.empty:
        return []
    mine = llm[llm["service"] == topo.service]
    by_window = mine.groupby("window").agg(
        queue=("queue_p99_ms", "max"),
        ttft=("ttft_p99_ms", "max"),
        requests=("requests", "sum"),
        input_tokens=("input_tokens", "sum"),
    )
    queue = change(by_window["queue"], phases)
    ttft = change(by_window["ttft"], phases)
    if queue is None or ttft is None or ttft.delta <= 0:
        return []
    floor = 10.0  # ms: a queue that was empty has a baseline of about nothing
    rise = queue.rise(floor)
    if rise < 2.0 or queue.delta < 0.5 * ttft.delta:
        return []
    count = change(by_window["requests"].astype(float), phases)
    if count is not None and count.baseline > 0 and count.during / count.baseline >= 1.25:
        return []  # more requests: a load surge by rate, load.load_surge's
    tokens = change(by_window["input_tokens"] / by_window["requests"].clip(lower=1), phases)
    evidence = [
        Evidence(
            QUEUE_EVIDENCE,
            topo.service,
            round(queue.baseline, 3),
            round(queue.during, 3),
            "ms",
        )
    ]
    tokens_text = ""
    if tokens is not None and tokens.baseline > 0:
        evidence.append(
            Evidence(
                "gen_ai.usage.input_tokens",
                topo.service,
                round(tokens.baseline, 1),
                round(tokens.during, 1),
                "{token}/{request}",
            )
        )
        tokens_text = f", input tokens per request {tokens.during / tokens.baseline:.1f}x"
    share = float(np.clip(queue.delta / ttft.delta, 0.0, 1.0))
    return [
        Candidate(
            "load_surge",
            "service",
            topo.service,
            min(1.5, sig(rise, 8.0) * (0.5 + 0.5 * share) * 1.5),
            frozenset(r.id for r in topo.replicas),
            f"requests of {topo.service} queue for a KV-cache slot: p99 queue time "
            f"{queue.baseline:.0f} -> {queue.during:.0f} ms ({share:.0%} of the added TTFT) "
            f"at a steady request rate{tokens_text}",
            tuple(evidence),
        )
    ]
