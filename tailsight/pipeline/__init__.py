"""The ingest pipeline: OTLP receivers (HTTP 4318, gRPC 4317) → decode → batch → spool → write.

Requests are decoded into the rows of the OpenTelemetry Collector ClickHouse exporter's
tables, made durable in an on-disk spool before they are acknowledged, and written to
the store by a single writer with deduplication so that retries never double a row.
Backpressure, size limits and authentication live here too.
"""
