"""What ``tailsight up`` hosts, assembled from settings; each capability adds its component here."""

from __future__ import annotations

from tailsight.alerts.scheduler import AnalysisScheduler
from tailsight.app.component import Component
from tailsight.config import Settings
from tailsight.pipeline.component import ingest_components
from tailsight.reports.component import WeeklyReportComponent
from tailsight.storage.store import Store


def build_components(settings: Settings, store: Store) -> list[Component]:
    """The components of one ``tailsight up`` process, in start order."""
    components: list[Component] = []
    components += ingest_components(settings, store)
    components.append(AnalysisScheduler(store, interval_s=settings.analysis_interval_s))
    # The alert history is the alert store's (not built yet): pass its query as alert_source.
    components.append(WeeklyReportComponent(store, settings))
    return components
