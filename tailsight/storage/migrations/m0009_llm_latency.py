"""LLM latency SLIs: per-10 s quantile states of TTFT, TPOT and queue time per service and model.

For generative services a request's duration mostly measures its output length; time to
first token (TTFT), time per output token (TPOT) and queue time measure health. vLLM's
request spans (``llm_request``, SERVER) carry them as ``gen_ai.latency.*`` attributes in
seconds with ``gen_ai.usage.*`` token counts (CONTRACT §3, LLM latency); this view keeps,
per (service, model, replica, window), their t-digest states and the token sums, filled
on insert. TPOT is ``(e2e - ttft) / (output_tokens - 1)`` for requests with two or more
output tokens; ``e2e`` falls back to the span's duration. The model is the response's,
else the request's (``gen_ai.response.model`` / ``gen_ai.request.model``). Older vLLM
spells the token counts ``gen_ai.usage.prompt_tokens``/``completion_tokens``: both count.

``tailsight_incident_slis`` names, per incident id, the SLI (``ttft`` or ``tpot``) and
model an incident's p99 is of; incidents without a row are of request duration.
"""

from __future__ import annotations

from tailsight.storage.ddl import MaterializedView, SchemaObject, Table

LLM_LATENCY_10S = Table(
    name="tailsight_llm_latency_10s",
    body="""
Service LowCardinality(String),
Model LowCardinality(String),
Host LowCardinality(String),
Pid String,
Window DateTime('UTC'),
Requests SimpleAggregateFunction(sum, UInt64),
InputTokens SimpleAggregateFunction(sum, UInt64),
OutputTokens SimpleAggregateFunction(sum, UInt64),
Ttft AggregateFunction(quantilesTDigest(0.5, 0.99), Float64),
Tpot AggregateFunction(quantilesTDigest(0.5, 0.99), Float64),
Queue AggregateFunction(quantilesTDigest(0.5, 0.99), Float64)
""",
    engine="AggregatingMergeTree()",
    partition_by="toDate(Window)",
    order_by="(Service, Model, Window, Host, Pid)",
    ttl="Window",
    shard_key="cityHash64(Service)",
)


def _attr(name: str) -> str:
    return f"toFloat64OrZero(SpanAttributes['{name}'])"


def _either(first: str, second: str) -> str:
    return f"if(mapContains(SpanAttributes, '{first}'), {_attr(first)}, {_attr(second)})"


_TTFT = f"{_attr('gen_ai.latency.time_to_first_token')} * 1000"
_OUT = _either("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_IN = _either("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_E2E = (
    "if(mapContains(SpanAttributes, 'gen_ai.latency.e2e'), "
    f"{_attr('gen_ai.latency.e2e')} * 1000, Duration / 1e6)"
)

LLM_LATENCY_10S_MV = MaterializedView(
    name="tailsight_llm_latency_10s_mv",
    source="otel_traces",
    target="tailsight_llm_latency_10s",
    select=f"""
SELECT
    ServiceName AS Service,
    if(SpanAttributes['gen_ai.response.model'] != '', SpanAttributes['gen_ai.response.model'],
       SpanAttributes['gen_ai.request.model']) AS Model,
    ResourceAttributes['host.name'] AS Host,
    ResourceAttributes['process.pid'] AS Pid,
    toStartOfInterval(Timestamp, toIntervalSecond(10), 'UTC') AS Window,
    toUInt64(count()) AS Requests,
    toUInt64(sum({_IN})) AS InputTokens,
    toUInt64(sum({_OUT})) AS OutputTokens,
    quantilesTDigestState(0.5, 0.99)({_TTFT}) AS Ttft,
    quantilesTDigestStateIf(0.5, 0.99)(
        greatest(0.0, {_E2E} - {_TTFT}) / greatest(1.0, {_OUT} - 1), {_OUT} > 1) AS Tpot,
    quantilesTDigestStateIf(0.5, 0.99)(
        {_attr("gen_ai.latency.time_in_queue")} * 1000,
        mapContains(SpanAttributes, 'gen_ai.latency.time_in_queue')) AS Queue
FROM {{source}}
WHERE SpanKind = 'Server' AND mapContains(SpanAttributes, 'gen_ai.latency.time_to_first_token')
GROUP BY Service, Model, Host, Pid, Window
""",
)

# What an incident's p99 is of, by incident id, for the LLM SLIs (request-duration incidents
# have no row). A table beside ``tailsight_incidents`` rather than new columns of it: a
# cluster's Distributed table would need altering too, and schema statements act on
# each node's local tables only. Ids never change meaning (the SLI is part of the id).
INCIDENT_SLIS = Table(
    name="tailsight_incident_slis",
    body="""
Id String,
Sli LowCardinality(String),
Model String,
UpdatedAt DateTime64(6, 'UTC')
""",
    engine="ReplacingMergeTree(UpdatedAt)",
    order_by="(Id)",
    shard_key="cityHash64(Id)",
)

OBJECTS: list[SchemaObject] = [LLM_LATENCY_10S, LLM_LATENCY_10S_MV, INCIDENT_SLIS]
