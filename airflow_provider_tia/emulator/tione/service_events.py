"""DescribeEvents for online services (``Service=INFER``): the Kubernetes-style events the emulator records on
a service's pods, in a time window (default: the last day), filtered, ordered and paged.

``Filters`` take ``ResourceKind`` and ``Type``; each must match one of its values, and all filters must
match. ``TotalCount`` counts the events of the query before paging.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..core.timefmt import parse_query_time
from .schema import invalid
from .service_views import event_view

if TYPE_CHECKING:
    from .service_store import ServiceStore

DAY_NS = 86400 * 10**9
MAX_LIMIT = 100


def _time(name: str, text: str) -> int:
    try:
        return parse_query_time(text, "+08:00")
    except (ValueError, OverflowError):
        raise invalid(name, "must be an RFC 3339 time, e.g. 2021-11-30T16:22:09+08:00") from None


def describe_events(store: ServiceStore, p: dict, uin: str) -> dict:
    """The DescribeEvents reply for checked parameters ``p`` of account ``uin``."""
    if p["Service"] != "INFER":
        raise invalid("Service", "must be INFER here (the emulator keeps the events of online services)")
    limit, offset = p.get("Limit", MAX_LIMIT), p.get("Offset", 0)
    if not 0 <= limit <= MAX_LIMIT:
        raise invalid("Limit", f"must be within [0, {MAX_LIMIT}]")
    if offset < 0:
        raise invalid("Offset", "must not be negative")
    order, field = p.get("Order", "DESC"), p.get("OrderField", "LastTimestamp")
    if order not in ("ASC", "DESC"):
        raise invalid("Order", "must be ASC or DESC")
    if field not in ("FirstTimestamp", "LastTimestamp"):
        raise invalid("OrderField", "must be FirstTimestamp or LastTimestamp")
    end = _time("EndTime", p["EndTime"]) if p.get("EndTime") else time.time_ns()
    start = _time("StartTime", p["StartTime"]) if p.get("StartTime") else end - DAY_NS
    wanted = {f.get("Name"): set(f.get("Values", [])) for f in p.get("Filters", [])}
    for i, name in enumerate(wanted):
        if name not in ("ResourceKind", "Type"):
            raise invalid(f"Filters.{i}.Name", "must be ResourceKind or Type")
    if p.get("ServiceId"):
        services = [store.service(p["ServiceId"], uin)[1]]
    else:
        services = [s for g in store.groups(uin) for s in g["Services"]]
    events = [
        e for s in services for e in s["Events"]
        if start <= e["LastNs"] and e["FirstNs"] <= end
        and all(not values or e[name] in values for name, values in wanted.items())
    ]  # fmt: skip
    key = "FirstNs" if field == "FirstTimestamp" else "LastNs"
    events.sort(key=lambda e: e[key], reverse=order == "DESC")
    return {"Events": [event_view(e) for e in events[offset : offset + limit]], "TotalCount": len(events)}
