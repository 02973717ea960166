"""Where read and analyse commands get their answers: a running ``tailsight up``, or the store itself.

The embedded store admits one process, so when ``tailsight up`` holds the data
directory the CLI asks its API (found in the lock file, or given by ``--api``);
otherwise it opens the store directly. Both paths return the same JSON.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any, Protocol

from tailsight.alerts.evaluate import slo_list
from tailsight.alerts.slo import SloCatalog
from tailsight.app.analyze import analyze_range
from tailsight.cli import CliError
from tailsight.cli.common import opened_store
from tailsight.config import Settings
from tailsight.model import iso
from tailsight.storage.incidents import list_incidents
from tailsight.storage.lock import current_holder


class Backend(Protocol):
    """Answers incident queries and runs analyses."""

    def incidents(self, since: datetime, until: datetime | None) -> list[dict[str, Any]]: ...

    def analyze(self, start: datetime, end: datetime) -> dict[str, Any]: ...

    def slos(self) -> list[dict[str, Any]]: ...


class ApiBackend:
    """Talks to a running ``tailsight up``."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except (ValueError, AttributeError):
                message = exc.reason
            raise CliError(f"{self.base_url} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"cannot reach tailsight at {self.base_url}: {reason}") from None

    def incidents(self, since: datetime, until: datetime | None) -> list[dict[str, Any]]:
        query = {"since": iso(since)}
        if until is not None:
            query["until"] = iso(until)
        result = self._call("GET", "/api/v1/incidents?" + urllib.parse.urlencode(query))
        return list(result)

    def analyze(self, start: datetime, end: datetime) -> dict[str, Any]:
        return dict(self._call("POST", "/api/v1/analyze", {"from": iso(start), "to": iso(end)}))

    def slos(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/slos"))


class StoreBackend:
    """Opens the store in this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def incidents(self, since: datetime, until: datetime | None) -> list[dict[str, Any]]:
        with opened_store(self.settings) as store:
            return [i.to_json() for i in list_incidents(store, since, until)]

    def analyze(self, start: datetime, end: datetime) -> dict[str, Any]:
        with opened_store(self.settings) as store:
            found = analyze_range(store, start, end)
        return {"from": iso(start), "to": iso(end), "incidents": [i.to_json() for i in found]}

    def slos(self) -> list[dict[str, Any]]:
        catalog = SloCatalog(self.settings.slo_path)  # logs the definitions it skips
        if not catalog.slos:
            return []
        with opened_store(self.settings) as store:
            return slo_list(store, catalog.slos, datetime.now(UTC))


def choose_backend(settings: Settings) -> Backend:
    """The API when one is named or holds the embedded store, else the store itself."""
    if settings.api_url:
        return ApiBackend(settings.api_url, settings.token)
    if settings.store is None:
        holder = current_holder(settings.data_dir.expanduser())
        if holder is not None:
            if not holder.api_url:
                raise CliError(
                    f"data directory {settings.data_dir} is in use by {holder.describe()}, "
                    "which serves no API; stop it or pass --api URL"
                )
            return ApiBackend(holder.api_url, settings.token)
    return StoreBackend(settings)
