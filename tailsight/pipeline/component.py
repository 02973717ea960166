"""The ingest pipeline assembled from settings: writer, then the gRPC and HTTP receivers."""

from __future__ import annotations

from tailsight.app.component import Component
from tailsight.app.http_guard import connection_limits
from tailsight.app.runner import AsgiServer
from tailsight.config import Settings
from tailsight.pipeline.intake import Intake
from tailsight.pipeline.limits import Limits
from tailsight.pipeline.otlp_grpc import OtlpGrpcReceiver
from tailsight.pipeline.otlp_http import build_http_app
from tailsight.pipeline.prom_remote import RemoteWriteReceiver
from tailsight.pipeline.prom_scrape import PrometheusScraper
from tailsight.pipeline.prom_scrape_config import parse_scrape_configs
from tailsight.pipeline.prom_semantic import SemanticMapping
from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.spool import Spool
from tailsight.pipeline.writer import InsertTarget, SpoolWriter


def ingest_components(
    settings: Settings, store: InsertTarget, spool: Spool | None = None
) -> list[Component]:
    """Writer first (it replays the spool on start), receivers after; they stop in reverse.

    Prometheus remote write (a route on the API port) and scrape (when ``scrape_configs``
    lists jobs) hand their converted requests to the same intake as OTLP.
    """
    spool = spool or Spool(settings.spool_path, max_bytes=settings.spool_max_bytes)
    metrics = IngestMetrics()
    writer = SpoolWriter(spool, store, metrics)
    limits = Limits(
        max_body_bytes=settings.ingest_max_body_bytes,
        max_decompressed_bytes=settings.ingest_max_decompressed_bytes,
        max_items=settings.ingest_max_items,
    )
    intake = Intake(spool, writer, metrics, limits, settings.token)
    http = AsgiServer(
        "otlp-http",
        build_http_app(intake),
        settings.host,
        settings.otlp_http_port,
        limits=connection_limits(settings),
    )
    grpc_receiver = OtlpGrpcReceiver(intake, settings.host, settings.otlp_grpc_port)
    mapping = SemanticMapping()  # one state for both paths: a series may come either way
    remote_write = RemoteWriteReceiver(
        intake, settings.spool_path / "prometheus-held.pb", emitter=mapping.wrap
    )
    components: list[Component] = [writer, grpc_receiver, http, remote_write]
    jobs = parse_scrape_configs(settings.scrape_configs)
    if jobs:
        components.append(PrometheusScraper(jobs, intake, emitter=mapping.wrap))
    return components
