"""The one RFC 3339 formatter and parser of kubesim (objects, audit, readiness, tables, protobuf)."""
from __future__ import annotations

import pytest

from helm_ac.kubesim import tables
from helm_ac.kubesim.times import format_rfc3339, parse_rfc3339, rfc3339, rfc3339_micro

T = 1_796_086_800  # 2026-12-01T01:00:00Z


def test_formats() -> None:
    assert rfc3339(T + 0.999) == "2026-12-01T01:00:00Z"
    assert rfc3339_micro(T + 0.25) == "2026-12-01T01:00:00.250000Z"
    assert rfc3339_micro(T + 0.9999999) == "2026-12-01T01:00:01.000000Z"
    assert format_rfc3339(T, 7) == "2026-12-01T01:00:00.000007Z"


@pytest.mark.parametrize("text, epoch", [
    ("2026-12-01T01:00:00Z", T),
    ("2026-12-01T01:00:00.5Z", T + 0.5),
    ("2026-12-01t01:00:00z", T),
    # an offset: the tables' own parser took it for no time at all ('<unknown>' age)
    ("2026-12-01T03:00:00+02:00", T),
])
def test_parse(text: str, epoch: float) -> None:
    t = parse_rfc3339(text)
    assert t is not None and t.timestamp() == epoch
    assert tables.parse_time(text) == epoch


@pytest.mark.parametrize("text", ["", "yesterday", None, 5])
def test_not_a_time(text: object) -> None:
    assert parse_rfc3339(text) is None and tables.parse_time(text) is None
