"""Go-layout and RFC 3339 time formatting, QueryLogs time parsing."""

from __future__ import annotations

import pytest

from airflow_provider_tia.emulator.core.timefmt import go_time, parse_query_time, rfc3339_nano

# 2018-05-23 10:00:00 +0800 == 2018-05-23 02:00:00 UTC
BASE = 1527040800 * 10**9


def test_go_time_drops_trailing_zeros_like_go() -> None:
    assert go_time(BASE) == "2018-05-23 10:00:00 +0800 CST"
    assert go_time(BASE + 500_000_000) == "2018-05-23 10:00:00.5 +0800 CST"
    assert go_time(BASE + 123_456_789) == "2018-05-23 10:00:00.123456789 +0800 CST"
    assert go_time(BASE, monotonic_ns=66666_666666666) == "2018-05-23 10:00:00 +0800 CST m=+66666.666666666"
    assert go_time(BASE, monotonic_ns=5) == "2018-05-23 10:00:00 +0800 CST m=+0.000000005"


def test_rfc3339_nano_in_utc() -> None:
    assert rfc3339_nano(BASE + 916_553_368) == "2018-05-23T02:00:00.916553368Z"
    assert rfc3339_nano(BASE + 10) == "2018-05-23T02:00:00.00000001Z"
    assert rfc3339_nano(BASE) == "2018-05-23T02:00:00Z"


def test_parse_query_time_reads_plus_0800() -> None:
    assert parse_query_time("2018-05-23 10:00:00") == BASE
    assert parse_query_time("2018-05-23T02:00:00Z") == BASE
    assert parse_query_time("2018-05-23 10:00:00.5+08:00") == BASE + 500_000_000
    with pytest.raises(ValueError):
        parse_query_time("23/05/2018")
