"""Ingest tables keep the parts their inserts write compact: one file of all columns.

The writer inserts each spool segment (at most ``SEGMENT_BYTES``, 32 MiB of requests) as
one part per table. With the engine's default threshold (10 MiB uncompressed) a busy
segment's ``otel_traces`` part is *wide*: a file per column stream, 123 files for the
exporter's columns, each created, compressed into and closed on its own. A *compact* part
writes the same columns into one file: at 40,000 spans a part the store's insert cost
fell from 4.4–5.3 to 3.0–4.0 µs a span, two thirds of it system time spent creating
files (bench/README.md). The other ingest tables' inserts are parts of one segment too.
Merges still write *wide* parts once a merged part passes the threshold below, twice a
segment, so the long-lived parts that queries read are laid out as before; a merge of
compact parts cost the same as a merge of wide ones (5.5 µs a span).
"""

from __future__ import annotations

from tailsight.storage.ddl import SchemaObject, Statement
from tailsight.storage.migrations.m0003_ingest_dedup import DEDUP_TABLES

# Twice a spool segment: every inserted part is compact, and parts merged past it wide.
WIDE_PART_BYTES = 64 << 20

OBJECTS: list[SchemaObject] = [
    Statement(
        f"ALTER TABLE {{db}}.{{local:{table}}}{{on_cluster}} "
        f"MODIFY SETTING min_bytes_for_wide_part = {WIDE_PART_BYTES}"
    )
    for table in DEDUP_TABLES
]
