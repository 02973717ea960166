"""LLM serving in the simulator: vLLM-style request spans with token counts and latency phases.

A generative service's request is queue wait, CPU work (tokenising), prefill and decode;
vLLM's own OTLP request span (``llm_request``, SERVER) reports them as
``gen_ai.latency.time_in_queue``, ``…time_to_first_token`` (queue + CPU + prefill),
``…time_in_model_prefill``/``…time_in_model_decode`` and ``…e2e``, with the token counts
``gen_ai.usage.input_tokens``/``output_tokens``. Here the GPU time the latency model
already draws (``gpu_ms`` x contention x a lognormal request size) is split into prefill
(``PREFILL_SHARE``) and decode; the output length follows the same lognormal size
(sigma 0.5 for ``llm-gateway``: the p99 is 2.8x the mean, one in a thousand 4.1x),
and decode time is proportional to it, so the span's duration, its phases and its token
counts agree: time per output token stays flat while output lengths vary.

Two fault kinds act on these services (``sim.faults``): ``long_output_burst`` doubles the
output lengths (decode time with them; TTFT and TPOT stay healthy: not an incident) and
``kv_cache_pressure`` shrinks how many sequences fit in the KV cache, so requests wait in
the queue and TTFT rises (an incident: the service saturated by its own load).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from statistics import NormalDist

from tailsight.sim.fleet import Fleet

LLM_SPAN_NAME = "llm_request"  # vLLM's request span
PREFILL_SHARE = 0.15  # of a request's GPU time, at nominal prompt length
KV_CAPACITY_LOSS = 0.5  # kv_cache_pressure at level 1 divides capacity by 1 + this


@dataclass(frozen=True)
class LlmProfile:
    """Token shape of one generative service's requests."""

    mean_output_tokens: float
    mean_input_tokens: float
    input_sigma: float = 0.6


LLM_SERVICES: dict[str, LlmProfile] = {
    "llm-gateway": LlmProfile(mean_output_tokens=24.0, mean_input_tokens=900.0),
}


def generative_services(fleet: Fleet) -> list[str]:
    """The services of ``fleet`` that serve generative requests (and take the LLM fault kinds)."""
    return sorted({r.service for r in fleet.replicas} & set(LLM_SERVICES))


@dataclass(frozen=True)
class LlmTiming:
    """The phases of one generative request, in ms, and its token counts."""

    queue_ms: float
    ttft_ms: float
    prefill_ms: float
    decode_ms: float
    e2e_ms: float
    input_tokens: int
    output_tokens: int


def _unit(key: bytes) -> float:
    """A uniform in (0, 1) from ``key``: token counts drawn without touching the latency RNG."""
    h = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
    return (h + 0.5) / 2**64


def llm_timing(
    profile: LlmProfile,
    *,
    wait_ms: float,
    cpu_ms: float,
    gpu_ms: float,
    size: float,
    output_scale: float,
    key: bytes,
) -> LlmTiming:
    """Phases of a request whose GPU time at nominal output length is ``gpu_ms``.

    ``size`` is the request's lognormal size (mean 1) the latency model drew: output
    length and decode time follow it, so the request's duration is exactly the one the
    latency model gives every service (the RCA corpus and its figures stay as they were).
    ``output_scale`` multiplies output length and decode time during a burst.
    """
    prefill = PREFILL_SHARE * gpu_ms
    decode = (1.0 - PREFILL_SHARE) * gpu_ms * output_scale
    out_tokens = max(1, round(profile.mean_output_tokens * size * output_scale))
    z = NormalDist().inv_cdf(_unit(key))
    sigma = profile.input_sigma
    in_tokens = max(1, round(profile.mean_input_tokens * math.exp(sigma * z - sigma**2 / 2)))
    ttft = wait_ms + cpu_ms + prefill
    return LlmTiming(
        queue_ms=wait_ms,
        ttft_ms=ttft,
        prefill_ms=prefill,
        decode_ms=decode,
        e2e_ms=ttft + decode,
        input_tokens=in_tokens,
        output_tokens=out_tokens,
    )


def span_attributes(timing: LlmTiming) -> list[tuple[str, int | float]]:
    """vLLM's request-span attributes (seconds, as vLLM reports them) and the GenAI token counts."""
    return [
        ("gen_ai.latency.time_in_queue", timing.queue_ms / 1000.0),
        ("gen_ai.latency.time_to_first_token", timing.ttft_ms / 1000.0),
        ("gen_ai.latency.time_in_model_prefill", timing.prefill_ms / 1000.0),
        ("gen_ai.latency.time_in_model_decode", timing.decode_ms / 1000.0),
        ("gen_ai.latency.e2e", timing.e2e_ms / 1000.0),
        ("gen_ai.usage.input_tokens", timing.input_tokens),
        ("gen_ai.usage.output_tokens", timing.output_tokens),
    ]
