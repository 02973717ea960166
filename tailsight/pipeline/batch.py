"""Column-oriented rows for one table, as the decoders build them and the writer inserts them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TableBatch:
    """Rows for ``table`` held as one list per column (no per-row Python objects)."""

    table: str
    names: tuple[str, ...]
    columns: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.columns:
            self.columns = [[] for _ in self.names]

    @property
    def rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def col(self, name: str) -> list[Any]:
        return self.columns[self.names.index(name)]

    def extend(self, other: TableBatch) -> None:
        for mine, theirs in zip(self.columns, other.columns, strict=True):
            mine.extend(theirs)


@dataclass(frozen=True)
class Decoded:
    """What one request decodes to: rows per table, and the items it rejected (partial success)."""

    batches: tuple[TableBatch, ...]
    accepted: int
    rejected: int = 0
    message: str = ""
