"""Prometheus scrape inside ``tailsight up``: each target on its job's interval, alone.

Each target is an asyncio task that scrapes at a fixed phase of its interval (an offset
drawn from a hash of its URL, as Prometheus spreads targets), with the job's timeout.
Why tasks rather than APScheduler jobs: a target needs only "every interval at its own
offset, never overlapping itself", which a loop awaiting its next tick is, and a dead or
slow target then delays nobody else. Each scrape is parsed by prometheus_client's
parsers (OpenMetrics when the target answers ``application/openmetrics-text``, else
text 0.0.4), converted like the Collector's Prometheus receiver (``prom_convert``), given
the per-target self-metrics ``up``, ``scrape_duration_seconds`` and
``scrape_samples_scraped``, and spooled as one OTLP metrics request through the same
:class:`~tailsight.pipeline.intake.Intake` as OTLP ingest. When the spool is full the
scrape is dropped and counted (a scraper has nobody to push back on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator

import httpx
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from starlette.routing import BaseRoute

from tailsight.pipeline.intake import Intake
from tailsight.pipeline.limits import Refused
from tailsight.pipeline.prom_convert import Assembler, StartTimes
from tailsight.pipeline.prom_otlp import Emitter, RequestBuilder, target_resource
from tailsight.pipeline.prom_scrape_config import ScrapeJob, Target
from tailsight.pipeline.signals import SIGNALS

log = logging.getLogger(__name__)

METRICS = next(s for s in SIGNALS if s.name == "metrics")
ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
_COUNTER_TYPE = re.compile(r"^# TYPE (\S+) counter\s*$", re.M)
EmitterFactory = Callable[[RequestBuilder], Emitter]
Sample = tuple[str, dict[str, str], int, float]


def exposition_samples(
    text: str, content_type: str, target_labels: dict[str, str], now_ms: int,
    honor_labels: bool = False,
) -> tuple[dict[str, str], list[Sample]]:
    """(family types, samples) of one exposition, target labels attached the Prometheus way.

    A sample's own ``job``/``instance`` (or any label the target sets) becomes
    ``exported_<name>`` unless ``honor_labels``, as Prometheus does.
    """
    openmetrics = content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"
    families = parse_openmetrics(text) if openmetrics else parse_text(text)
    # The text parser renames a counter ``x`` to ``x_total`` (its OpenMetrics form); the
    # Collector stores the name the exposition used, so declared names are restored.
    renamed = {} if openmetrics else {
        name + "_total": name for name in _COUNTER_TYPE.findall(text) if not name.endswith("_total")
    }
    kinds: dict[str, str] = {}
    samples: list[Sample] = []
    for family in families:
        kinds[family.name] = family.type
        for s in family.samples:
            labels = dict(s.labels)
            for key, value in target_labels.items():
                if key in labels and not honor_labels:
                    labels["exported_" + key] = labels[key]
                if key not in labels or not honor_labels:
                    labels[key] = value
            ts = round(float(s.timestamp) * 1000) if s.timestamp is not None else now_ms
            samples.append((renamed.get(s.name, s.name), labels, ts, float(s.value)))
    return kinds, samples


def convert_scrape(
    kinds: dict[str, str], samples: Iterable[Sample], emitter: Emitter,
    start_times: StartTimes, scheme: str,
) -> int:
    """Emit one scrape's samples; returns how many were taken."""
    assembler = Assembler(kinds.get, start_times, scheme)
    n = 0
    for name, labels, ts, value in samples:
        assembler.add(name, labels, ts, value, emitter)
        n += 1
    assembler.emit_groups(emitter)
    return n


def _offset(url: str, interval_s: float) -> float:
    return (zlib.crc32(url.encode()) % 10_000) / 10_000 * interval_s


class PrometheusScraper:
    """The scrape jobs of ``scrape_configs``: a :class:`~tailsight.app.component.Component`."""

    name = "prometheus-scrape"

    def __init__(
        self, jobs: list[ScrapeJob], intake: Intake,
        emitter: EmitterFactory = lambda b: b, spread: bool = True,
    ) -> None:
        self.jobs = jobs
        self.intake = intake
        self.emitter = emitter
        self.spread = spread  # False: scrape at once on start (tests)
        self.start_times = StartTimes()
        self._tasks: dict[tuple[str, Target], asyncio.Task[None]] = {}
        self._watchers: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    def routes(self) -> list[BaseRoute]:
        return []

    async def start(self) -> None:
        # httpx logs every request at INFO: a line per target per interval drowns the log.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
        # No pool bound: httpx's default (100 connections) made the 101st concurrent target
        # wait for a free connection until its timeout (PoolTimeout), failing healthy targets.
        self._client = httpx.AsyncClient(
            follow_redirects=True,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        )
        for job in self.jobs:
            self._reconcile(job)
            if job.sd_files:
                self._watchers.append(asyncio.create_task(self._watch(job)))

    async def stop(self) -> None:
        tasks = [*self._watchers, *self._tasks.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._client is not None:
            await self._client.aclose()

    def _reconcile(self, job: ScrapeJob) -> None:
        """Start tasks for the job's targets that are new, stop those no longer listed."""
        try:
            wanted = {(job.name, t) for t in job.targets()}
        except ValueError as exc:  # a file_sd file that does not read: keep what runs
            log.error("scrape job %s: %s", job.name, exc)
            return
        for key in [k for k in self._tasks if k[0] == job.name and k not in wanted]:
            self._tasks.pop(key).cancel()
        for key in wanted - set(self._tasks):
            self._tasks[key] = asyncio.create_task(self._loop(job, key[1]))

    async def _watch(self, job: ScrapeJob) -> None:
        while True:
            await asyncio.sleep(job.sd_refresh_s)
            self._reconcile(job)

    async def _loop(self, job: ScrapeJob, target: Target) -> None:
        loop = asyncio.get_running_loop()
        offset = _offset(target.url, job.interval_s) if self.spread else 0.0
        tick = loop.time() + offset
        while True:
            await asyncio.sleep(max(0.0, tick - loop.time()))
            try:
                await self.scrape(job, target)
            except Exception:  # one target's surprise must not end its loop
                log.exception("scrape of %s failed", target.url)
            tick += job.interval_s
            if tick < loop.time():  # fell behind (a long stop): skip missed ticks
                tick += (loop.time() - tick) // job.interval_s * job.interval_s + job.interval_s

    async def scrape(self, job: ScrapeJob, target: Target) -> int:
        """One scrape of ``target``, spooled; returns the points stored (0 if refused)."""
        assert self._client is not None, "start() first"
        started_wall = time.time()
        started = time.monotonic()
        now_ms = int(started_wall * 1000)
        labels = dict(target.labels)
        builder = RequestBuilder()
        emitter = self.emitter(builder)
        scraped, up, error = 0, 1.0, ""
        try:
            auth = httpx.BasicAuth(*job.basic_auth) if job.basic_auth else None
            resp = await self._client.get(
                target.url, auth=auth, timeout=job.timeout_s,
                headers={"accept": ACCEPT, "x-prometheus-scrape-timeout-seconds":
                         f"{job.timeout_s:g}", **dict(job.headers)},
            )  # fmt: skip
            if resp.status_code != 200:
                raise ValueError(f"HTTP {resp.status_code}")
            kinds, samples = exposition_samples(
                resp.text, resp.headers.get("content-type", ""), labels, now_ms, job.honor_labels
            )
            scraped = convert_scrape(kinds, samples, emitter, self.start_times, target.scheme)
        except (httpx.HTTPError, ValueError, UnicodeDecodeError) as exc:
            up, error = 0.0, f"{type(exc).__name__}: {exc}"
            builder = RequestBuilder()  # nothing of a failed scrape is kept
            emitter = self.emitter(builder)
        duration = time.monotonic() - started
        resource = target_resource(job.name, target.instance, target.scheme)
        attrs = tuple(sorted((k, v) for k, v in labels.items() if k not in ("job", "instance")))
        for name, value in _self_metrics(up, duration, scraped):
            emitter.number(resource, name, "gauge", "", attrs, now_ms * 1_000_000, value)
        emitter.flush()
        if error:
            log.warning("scrape of %s (job %s) failed: %s", target.url, job.name, error)
        payload = builder.request().SerializeToString()
        try:
            await self.intake.spool_request(METRICS, payload, builder.points, "scrape")
        except Refused as exc:
            self.intake.metrics.inc("tailsight_scrape_total", job=job.name, outcome="dropped")
            log.warning("scrape of %s dropped: %s", target.url, exc.message)
            return 0
        self.intake.metrics.inc("tailsight_scrape_total", job=job.name,
                                outcome="failed" if error else "ok")  # fmt: skip
        self.intake.metrics.inc("tailsight_scrape_samples_total", scraped, job=job.name)
        return builder.points


def _self_metrics(up: float, duration: float, scraped: int) -> Iterator[tuple[str, float]]:
    yield "up", up
    yield "scrape_duration_seconds", duration
    yield "scrape_samples_scraped", float(scraped)
