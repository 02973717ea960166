"""The fleet simulator: a GPU inference fleet whose telemetry is built from causes.

It models switches, nodes, GPUs and services, injects faults with known ground truth,
and sends the resulting spans and metrics through the real OTLP ingest path. It is the
demo, the analysis corpus and the load generator for benchmarks.
"""
