"""Time formats of the services: TI-A's Go ``time.String()`` layout in +0800 CST, TI-ONE's two reply layouts
(in UTC+8, the zone of the service's samples) and RFC 3339 log times in UTC."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NS = 1_000_000_000
QUERY_ZONES = {
    "+08:00": CST,
    "utc": timezone.utc,
}  # how QueryLogs may read a StartTime/EndTime without offset


def _frac(ns: int) -> str:
    digits = f"{ns % _NS:09d}".rstrip("0")
    return f".{digits}" if digits else ""


def go_time(ns: int, monotonic_ns: int | None = None) -> str:
    """Format like Go's ``time.Time.String()`` in +0800 CST (``2006-01-02 15:04:05.999999999 -0700 MST``).

    Trailing zeros of the fraction are dropped as Go does; ``monotonic_ns`` adds ``m=+<s.9f>``.
    """
    dt = datetime.fromtimestamp(ns // _NS, tz=CST)
    text = f"{dt:%Y-%m-%d %H:%M:%S}{_frac(ns)} +0800 CST"
    if monotonic_ns is not None:
        text += f" m=+{monotonic_ns // _NS}.{monotonic_ns % _NS:09d}"
    return text


def rfc3339_nano(ns: int) -> str:
    """Format like Go's RFC3339Nano in UTC, e.g. ``2019-01-01T09:10:04.916553368Z``."""
    dt = datetime.fromtimestamp(ns // _NS, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}{_frac(ns)}Z"


def tione_detail_time(ns: int | None) -> str:
    """TI-ONE TrainingTaskDetail time, hour-only offset: ``2025-05-28T18:18:33+08`` ("" when unset)."""
    return "" if ns is None else f"{datetime.fromtimestamp(ns // _NS, tz=CST):%Y-%m-%dT%H:%M:%S}+08"


def tione_list_time(ns: int | None) -> str:
    """TI-ONE list-item and pod time, no zone (UTC+8): ``2025-01-01 00:00:00`` ("" when unset)."""
    return "" if ns is None else f"{datetime.fromtimestamp(ns // _NS, tz=CST):%Y-%m-%d %H:%M:%S}"


def parse_query_time(text: str, zone: str = "+08:00") -> int:
    """Parse a QueryLogs time (``2019-01-01 00:00:00``, read in ``zone``: a key of QUERY_ZONES; ISO 8601 with
    an offset also works). Returns nanoseconds since the epoch; raises ValueError on bad input.
    """
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes only 3 or 6 fraction digits: pad or cut to 6.
    value = re.sub(r"(\.\d{1,6})\d*", lambda m: m.group(1).ljust(7, "0"), value, count=1)
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=QUERY_ZONES[zone])
    return ((dt - _EPOCH) // timedelta(microseconds=1)) * 1000
