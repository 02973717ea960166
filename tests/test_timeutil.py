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


@pytest.mark.parametrize(
    "value",
    [
        "1e20",
        "inf",
        "-inf",
        "nan",
        "0001-01-01",
        "-1",
        "2106-02-07T06:28:16Z",
        1e20,
        "9" * 400 + "w",
    ],
)
def test_times_the_store_cannot_hold_are_value_errors_naming_the_range(value: object) -> None:
    with pytest.raises(ValueError) as err:
        parse_time(value)  # type: ignore[arg-type]
    assert "1970-01-01T00:00:00Z" in str(err.value) or "longer than" in str(err.value)
