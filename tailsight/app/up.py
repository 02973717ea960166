"""What ``tailsight up`` hosts, assembled from settings; each capability adds its component here."""

from __future__ import annotations

from tailsight.alerts.scheduler import AnalysisScheduler
from tailsight.app.component import Component
from tailsight.config import Settings
from tailsight.pipeline.component import ingest_components
from tailsight.storage.store import Store


def build_components(settings: Settings, store: Store) -> list[Component]:
    """The components of one ``tailsight up`` process, in start order."""
    components: list[Component] = []
    components += ingest_components(settings, store)
    components.append(
        AnalysisScheduler(
            store,
            interval_s=settings.analysis_interval_s,
            max_skew_s=settings.analysis_max_skew_s,
        )
    )
    return components
