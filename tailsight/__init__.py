"""tailsight: observability and SLOs for ML inference fleets.

Data flows one way through the sub-packages: ``collectors`` (read hardware and
services, send OTLP) → ``pipeline`` (receive, decode, batch, spool, write) →
``storage`` (ClickHouse client, schema, queries) → ``analysis`` (spikes and their
causes) → ``alerts``, ``dashboards``, ``reports``. ``sim`` produces fleet telemetry
with injected faults; ``app`` composes the long-running process; ``cli`` is the
command line.
"""

__version__ = "0.1.0"
