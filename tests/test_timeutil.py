from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tailsight.timeutil import parse_time

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T10:04:00Z", datetime(2026, 11, 22, 10, 4, tzinfo=UTC)),
        ("2026-11-22T10:04:00", datetime(2026, 11, 22, 10, 4, tzinfo=UTC)),
        ("1795000000", datetime.fromtimestamp(1795000000, UTC)),
        ("15m", NOW - timedelta(minutes=15)),
        ("2h", NOW - timedelta(hours=2)),
        ("now", NOW),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


def test_parse_time_error_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("yesterday", NOW)
