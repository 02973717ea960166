"""The fleet simulator: a GPU inference fleet whose telemetry is built from causes.

It models switches, nodes, GPUs and services, injects faults with known ground truth,
and sends the resulting spans and metrics through the real OTLP ingest path. It is the
demo, the analysis corpus and the load generator for benchmarks.

Modules, in the order data flows through them:

- ``fleet``: topology. Leaf and spine switches (ports ``Ethernet0``, ``Ethernet4``, …;
  uplinks ``Ethernet200``+), nodes ``gpu-node-NN`` with NIC ``eth0`` cabled to a leaf port,
  2–8 GPUs each with UUIDs, service replicas (one process, one GPU, one pid), a training
  job (``train-llm``, ``torchrun`` on every GPU of the training nodes) and batch jobs
  sharing a serving GPU. Placement is a pure function of ``FleetSpec`` and seed.
- ``load``: diurnal request rates (peak 15:00 UTC, ±45 %) with slow wobble.
- ``faults``: :class:`~tailsight.sim.faults.Fault` and its ground truth.
- ``state``: the engine; each 10 s tick computes per replica its arrivals, capacity and
  slowdowns, and per GPU/host/NIC/switch port the gauges and counter rates.
- ``latency``: per sampled request, queueing + CPU + GPU + network time from that state.
- ``telemetry``: state → ``ExportMetricsServiceRequest`` / ``ExportTraceServiceRequest``.
- ``scenario``: YAML scenarios and :class:`~tailsight.sim.scenario.Simulation`, which
  yields batches of OTLP requests; ``corpus``: random scenarios per seed; ``sender``:
  OTLP/HTTP with retries, backfill or live.
- ``prometheus``: the same state as a fleet without tailsight's agent publishes it
  (dcgm-exporter, node_exporter, vLLM/Triton), sent as Prometheus remote write.

Sampling. Spans are a uniform sample of requests: each service keeps its external
requests with a fixed probability ``p`` chosen so that ``spans_per_window`` (default 40)
spans fall in an average 10 s window: 22 at the diurnal trough (0.55 x mean), above the
detector's 20-request minimum; a kept request keeps its downstream calls (parent-based),
so embedder and reranker get more. Every span carries ``p`` as the OpenTelemetry
tracestate threshold ``ot=th:<hex>`` (``p = 1 - int(hex.ljust(14, "0"), 16) / 2**56``),
so a request rate is ``sum(1 / p)`` over spans; span counts are proportional to the true
rate, and a load surge shows as more spans. Metrics are one point per series per tick
(10 s) unless a coarser ``metric_every`` is asked for (the demo's old history).

Truth format (``truth.json`` of a corpus scenario, ``Scenario.truth()``)::

    {"scenario": "seed-0003", "seed": 3,
     "start": "2026-11-04T16:00:00Z", "end": "2026-11-04T18:00:00Z",
     "faults": [
       {"id": "f1", "kind": "gpu_underutilized",          # fault kind (faults.KINDS)
        "start": "…Z", "end": "…Z",                        # level 0 outside, ramps inside
        "ramp_s": 120.0, "intensity": 0.98,
        "target": "GPU-876c…",                             # what the fault acts on
        "pid": 2175416, "executable": "gzip",             # neighbor kinds: the intruder
        "sources": ["gpu-node-04"],                        # congestion: sending hosts
        "cause_kind": "gpu_underutilized",                 # CONTRACT §4 kind; null = distractor
        "distractor": false,
        "culprit": {"type": "gpu", "id": "gpu-node-11/GPU-876c…"},   # CONTRACT §4 entity
        "accepted": [{"type": "host", "id": "gpu-node-11"}, …],      # equally right entities
        "affected_services": ["reranker"],     # services whose own p99 rises
        "upstream_services": ["llm-gateway"],  # callers; their p99 may rise less
        "signals": ["hw.gpu.utilization", …]}],# CONTRACT §3 metrics the fault moves
     "fleet": {"replicas": [{"service", "host", "pid", "process", "gpu", "switch_port"}],
               "jobs": […], "nics": {"gpu-node-01/eth0": "leaf1/Ethernet0"},
               "idle_gpus": ["gpu-node-03/GPU-…"]}}

Cause kinds per fault kind: ``port_congestion`` → ``network_congestion`` (culprit
``switch_port``, accepted the NIC behind it); ``gpu_noisy_neighbor`` and
``cpu_noisy_neighbor`` → ``noisy_neighbor`` (culprit the intruding ``process``
``host/pid``; the GPU one also accepts its ``pod`` ``batch/<executable>-<pid hex>``, all
dcgm-exporter shows of it; the CPU one also accepts the ``host``); ``gpu_underutilized`` →
``gpu_underutilized`` (culprit ``gpu`` ``host/uuid``); ``load_surge`` → ``load_surge``
(culprit ``service``). Distractors (``idle_port_congestion``, ``idle_gpu_neighbor``,
``gpu_dip``) move telemetry but no latency: nothing should be blamed on them.
"""
