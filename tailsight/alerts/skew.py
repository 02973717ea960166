"""Data dated in the future: counted and reported, never trusted to move analysis forward."""

from __future__ import annotations

import logging
from datetime import datetime

from tailsight.storage.state import requests_after
from tailsight.storage.store import Store

log = logging.getLogger(__name__)


class FutureData:
    """What the last analysis cycle found dated after the wall clock (plus the skew allowed)."""

    def __init__(self) -> None:
        self.requests = 0
        self.newest: datetime | None = None

    def observe(self, store: Store, bound: datetime) -> None:
        requests, newest = requests_after(store, bound)
        if requests and requests != self.requests:
            log.warning(
                "%d spans are dated after %s (the newest window %s): not analysed until then",
                requests,
                bound.isoformat(),
                newest.isoformat() if newest else "?",
            )
        self.requests, self.newest = requests, newest

    def problems(self) -> list[str]:
        if not self.requests:
            return []
        newest = self.newest.isoformat() if self.newest else "?"
        return [
            f"{self.requests} spans are dated in the future (up to {newest}): clocks of their "
            "senders are wrong; they are kept but not analysed until their time comes"
        ]
