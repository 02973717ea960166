"""Fuzzing from intake to store: whatever intake acknowledges, the writer stores, exactly once.

Hostile bodies (``fuzz_mutants.py``) go through what the receivers run on a request
(gunzip for gzip bodies, :func:`~tailsight.pipeline.intake.admit`); each must be refused
with a 4xx (:class:`Refused`) or admitted. Every admitted body is then written, as the
spool would hold it, into segments of many requests and inserted by the real writer into
a real store: no segment may jam (the writer reports it failed) and no request may be
quarantined (what intake takes, the store takes), and the tables hold exactly the items
acknowledged. ``TAILSIGHT_FUZZ_MUTANTS`` sets the count (default 20,000).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tailsight.pipeline.intake import admit
from tailsight.pipeline.limits import Refused, gunzip
from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.spool import Spool, encode_record
from tailsight.pipeline.writer import SpoolWriter
from tailsight.storage import Store, open_store
from tailsight.storage.migrations import migrate
from tests.pipeline.fuzz_mutants import mutants

COUNT = int(os.environ.get("TAILSIGHT_FUZZ_MUTANTS", "20000"))
PER_SEGMENT = 1500
TABLES = {
    "traces": ("otel_traces",),
    "logs": ("otel_logs",),
    "metrics": (
        "otel_metrics_gauge",
        "otel_metrics_sum",
        "otel_metrics_histogram",
        "otel_metrics_exponential_histogram",
        "otel_metrics_summary",
    ),
}


@pytest.fixture
def keep_all(tmp_path: Path) -> Store:
    """A store without TTL: rows dated 1970 or 2100 stay, so every stored row can be counted."""
    s = open_store(f"chdb://{tmp_path / 'store'}")
    migrate(s, ttl_days=0)
    yield s  # type: ignore[misc]
    s.close()


@pytest.mark.parametrize("native", [True, False], ids=["encoder", "python"])
def test_every_acknowledged_mutant_is_stored_once_and_nothing_jams(
    keep_all: Store, tmp_path: Path, native: bool
) -> None:
    count = COUNT if native else COUNT // 10  # the Python decoder path: a tenth as many
    records: list[bytes] = []
    expected: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for m in mutants(count, seed=20 if native else 21):
        try:
            body = gunzip(m.body, 64 << 20) if m.gzipped else m.body
            payload, items, rejected, _ = admit(m.signal, body, m.is_json)
        except Refused as exc:
            assert 400 <= exc.status < 500, exc.message
            outcomes[f"refused {exc.status}"] += 1
            continue
        outcomes["acknowledged"] += 1
        records.append(encode_record(m.signal.code, payload, items - rejected))
        expected[m.signal.name] += items - rejected
    assert sum(outcomes.values()) == count
    spool = tmp_path / "spool"
    writer = SpoolWriter(Spool(spool), keep_all, IngestMetrics(), native_traces=native)
    writer.spool.recover()
    jammed = []
    for n in range(0, len(records), PER_SEGMENT):
        segment = spool / f"{n:012d}-fuzz.seg"
        segment.write_bytes(b"".join(records[n : n + PER_SEGMENT]))
        if not writer.write_segment(segment):
            jammed.append((segment.name, writer.last_error))
    print(f"{count} mutants: {dict(outcomes)}; {len(records) // PER_SEGMENT + 1} segments")
    assert jammed == []
    assert [p.name for p in writer.quarantine.directory.glob("*")] == []
    stored = Counter(
        {
            name: sum(int(keep_all.rows(f"SELECT count() FROM {t}")[0][0]) for t in tables)
            for name, tables in TABLES.items()
        }
    )
    assert +stored == +expected
    assert outcomes["acknowledged"] > count // 4  # the mutants are not all refused
