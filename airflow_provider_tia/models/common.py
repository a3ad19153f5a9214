"""What every platform's model shares: request fields (``SpecField``), the job base (``JobBase``),
Tencent Cloud's times, and reading items out of a reply.

No Airflow, no network: pure data, unit-tested without I/O.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import pendulum
from pendulum import DateTime

from airflow_provider_tia.exceptions import JobSpecError, MalformedResponse

T = TypeVar("T")

# Tencent Cloud reports times in China Standard Time (UTC+8, no daylight saving) when a value has no offset.
CHINA_STANDARD_TIME = datetime.timezone(datetime.timedelta(hours=8))


# --------------------------------------------------------------------------------------------- times
# Patterns are compiled on first use (``re``'s cache), not when a DAG file imports the provider.
_GO_TIME = (
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?:\s*(?P<offset>Z|[+-]\d{2}(?::?\d{2})?))?(?:\s+(?P<zone>[A-Za-z]{1,6}))?(?:\s+m=[+-][\d.]+)?$"
)


_RFC850 = (
    r"^[A-Za-z]+,\s+(?P<day>\d{1,2})-(?P<mon>[A-Za-z]{3})-(?P<year>\d{2})\s+"
    r"(?P<time>\d{2}:\d{2}:\d{2})(?:\s+(?P<zone>[A-Za-z]{1,6}|[+-]\d{4}))?$"
)


_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}


def parse_time(value: Any) -> DateTime | None:
    """Parse a TI-A or TI-ONE time into an aware UTC ``pendulum.DateTime``; ``None`` when absent or unreadable.

    Reads Go's ``time.String()`` layout with 0-9 fraction digits and the monotonic suffix
    (``2018-05-23 10:00:00.000000000 +0800 CST m=+66666.666666666`` -> 2018-05-23T02:00:00Z),
    RFC 3339 (log lines, nanoseconds and ``Z`` too), an hour-only offset (TI-ONE's
    ``2025-05-28T18:18:33+08``), times without a zone (taken as China Standard Time, +08:00, as Tencent
    Cloud reports them) and RFC 850 (``Wednesday, 19-Sep-18 11:01:29 CST``). The numeric offset is
    used, never the ambiguous zone abbreviation.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    match = re.match(_GO_TIME, text)
    if match:
        year, month, day = (int(p) for p in match["date"].split("-"))
        hour, minute, second = (int(p) for p in match["time"].split(":"))
        micro = int((match["frac"] or "").ljust(6, "0")[:6])
        return _utc(year, month, day, hour, minute, second, micro, match["offset"])
    match = re.match(_RFC850, text)
    if match and match["mon"].lower() in _MONTHS:
        zone = match["zone"]
        hour, minute, second = (int(p) for p in match["time"].split(":"))
        month = _MONTHS[match["mon"].lower()]
        offset = zone if zone and zone[0] in "+-" else None
        return _utc(2000 + int(match["year"]), month, int(match["day"]), hour, minute, second, 0, offset)
    return None


def _utc(
    year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int, offset: str | None
) -> DateTime | None:
    """The UTC moment: stdlib arithmetic, then one cheap pendulum constructor (this runs on every poll)."""
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second, micro, tzinfo=_offset_of(offset))
    except ValueError:
        return None
    moment = moment.astimezone(datetime.timezone.utc)
    return DateTime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=pendulum.UTC,
    )


def _offset_of(offset: str | None) -> datetime.tzinfo:
    if not offset:
        return CHINA_STANDARD_TIME
    if offset == "Z":
        return datetime.timezone.utc
    digits = offset.replace(":", "")
    minutes = int(digits[1:3]) * 60 + int(digits[3:5] or 0)
    return datetime.timezone(datetime.timedelta(minutes=minutes if digits[0] == "+" else -minutes))


def iso_time(moment: DateTime | None) -> str | None:
    """A moment as ISO 8601 in UTC (``2025-05-28T10:18:33Z``), for XCom."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


# ---------------------------------------------------------------------------------------------- spec
@dataclasses.dataclass(frozen=True)
class SpecField:
    """One CreateJob parameter: the operator keyword, the API name, its kind and its documentation.

    This table drives a ``RequestSpec``'s validation, ``to_request()``, the operator's keywords and template
    fields, and the parameter list of the operator's docstring. A platform's table may carry its own
    validator (``check(value, path) -> value``, TI-ONE) instead of the ``kind``'s built-in one (TI-A).
    """

    attr: str
    api: str
    kind: str  # "str", "list", "count", "bool" (TI-A); TI-ONE: a description of the value
    doc: str
    required: bool = False
    custom_only: bool = False
    check: Callable[[Any, str], Any] | None = dataclasses.field(default=None, compare=False)


class JobBase:
    """What every platform's job model shares: the outcome (from ``state_name`` and two sets of
    state names) and the times of its reply (``raw``)."""

    SUCCESS: ClassVar[frozenset[str]] = frozenset()
    FAILURE: ClassVar[frozenset[str]] = frozenset()
    raw: Mapping[str, Any]

    @functools.cached_property
    def create_time(self) -> DateTime | None:
        return parse_time(self.raw.get("CreateTime"))

    @functools.cached_property
    def start_time(self) -> DateTime | None:
        return parse_time(self.raw.get("StartTime"))

    @functools.cached_property
    def end_time(self) -> DateTime | None:
        return parse_time(self.raw.get("EndTime"))

    @property
    def state_name(self) -> str:
        raise NotImplementedError

    @property
    def is_terminal(self) -> bool:
        return self.succeeded or self.failed

    @property
    def succeeded(self) -> bool:
        return self.state_name in self.SUCCESS

    @property
    def failed(self) -> bool:
        return self.state_name in self.FAILURE


def checked_value(field: SpecField, value: Any) -> Any:
    """``field``'s validated value; an error about the field itself names its API name too."""
    assert field.check is not None
    try:
        return field.check(value, field.attr)
    except JobSpecError as error:
        if error.parameter != field.attr:
            raise
        raise JobSpecError(field.attr, error.problem, api_name=field.api) from None


class RequestSpec:
    """A request's fields as keywords, each validated (and converted) by its ``SpecField`` on
    construction; the request carries the fields that are set, in table order.

    A subclass names its ``ACTION`` and ``FIELDS`` and may add ``cross_check`` (rules across fields,
    which may also set defaults) and ``secrets`` (values to mask). The values live in one dict, not in
    one attribute per field, so a new API field is one line in the table. Immutable: ``replace``
    returns a new spec, validated again.
    """

    ACTION: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[SpecField, ...]] = ()
    _by_attr: ClassVar[dict[str, SpecField]] = {}
    _values: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._by_attr = {field.attr: field for field in cls.FIELDS}

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(self._by_attr))
        if unknown:
            close = difflib.get_close_matches(unknown[0], self._by_attr, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise JobSpecError(unknown[0], f"is not a {self.ACTION} parameter{hint}")
        checked: dict[str, Any] = {}
        for field in self.FIELDS:
            value = values.get(field.attr)
            if value is not None:
                checked[field.attr] = self.check_field(field, value)
            elif field.required:
                raise JobSpecError(field.attr, "is required", api_name=field.api)
        self.cross_check(checked)
        object.__setattr__(self, "_values", checked)
        from airflow_provider_tia.secrets import register_secrets

        register_secrets(*self.secrets())

    @classmethod
    def from_kwargs(cls: type[SpecT], **kwargs: Any) -> SpecT:
        """Build from keyword arguments, refusing unknown ones by name."""
        return cls(**kwargs)

    def check_field(self, field: SpecField, value: Any) -> Any:
        """One set value, validated and converted (``field.check``'s; a platform may read ``field.kind``)."""
        return checked_value(field, value)

    def cross_check(self, values: dict[str, Any]) -> None:
        """Rules across the checked ``values`` (``JobSpecError`` names a field); may set defaults."""

    def secrets(self) -> Iterable[str | None]:
        """The values to mask (env values, image passwords)."""
        return ()

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_") or attr not in self._by_attr:
            raise AttributeError(attr)
        return self._values.get(attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: use replace()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._values)})"  # names only: values may be secret

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values == self._values  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def to_request(self) -> dict[str, Any]:
        """The request body: API field names, unset fields left out (a deep copy)."""
        return copy.deepcopy({self._by_attr[attr].api: value for attr, value in self._values.items()})

    def replace(self: SpecT, **changes: Any) -> SpecT:
        """The same spec with these keywords changed (validated again; None unsets one)."""
        return type(self)(**{**self._values, **changes})


SpecT = TypeVar("SpecT", bound=RequestSpec)


def reply_text(value: Any) -> str | None:
    """A reply's string, ``None`` for null, ``""`` and non-strings (the services send all three)."""
    return value if isinstance(value, str) and value else None


KeyT = TypeVar("KeyT", bound="JobKey")


@dataclasses.dataclass(frozen=True)
class JobKey:
    """How Airflow addresses one job across a task's tries, its trigger and the task state store.

    A platform subclasses it with the fields that identify its jobs. Frozen, so a key is never changed
    behind its holder; ``to_json``/``from_json`` are the one JSON form (resume payloads, the task
    state store), unset fields left out.
    """

    @property
    def label(self) -> str:
        """How messages name the job."""
        raise NotImplementedError

    def to_json(self) -> dict[str, str]:
        return {
            f.name: value for f in dataclasses.fields(self) if (value := getattr(self, f.name)) is not None
        }

    @classmethod
    def from_json(cls: type[KeyT], data: Mapping[str, Any]) -> KeyT:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def completed_by(self: KeyT, other: KeyT) -> KeyT:
        """This key with the fields it leaves unset taken from ``other`` (what addressed a job wins
        over what its reply says: a TI-A reply may leave out its cluster)."""
        missing = {
            f.name: getattr(other, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is None
        }
        return dataclasses.replace(self, **missing)


def json_safe_dict(raw: Mapping[str, Any], time_fields: Sequence[str]) -> dict[str, Any]:
    """A reply object for XCom: its JSON-safe fields, and ``time_fields`` as ISO 8601 (UTC) or None."""
    out: dict[str, Any] = {k: v for k, v in raw.items() if _json_safe(v)}
    for key in time_fields:
        out[key] = iso_time(parse_time(raw.get(key)))
    return out


def _json_safe(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_json_safe(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    return False


def reply_item(action: str, response: Mapping[str, Any], key: str, parse: Callable[[Any], T]) -> T:
    """``parse(response[key])``; a missing or unreadable object is ``MalformedResponse`` naming the action."""
    request_id = response.get("RequestId")
    if response.get(key) is None:
        raise MalformedResponse(f"{action}: the reply has no {key}", request_id=request_id)
    try:
        return parse(response[key])
    except MalformedResponse as error:
        raise MalformedResponse(f"{action}: {error.message}", request_id=request_id) from None


def reply_items(action: str, response: Mapping[str, Any], key: str, parse: Callable[[Any], T]) -> list[T]:
    """``parse`` of each item of the list ``response[key]`` (null is an empty list)."""
    items = response.get(key) or []
    if not isinstance(items, list):
        raise MalformedResponse(f"{action}: {key} is not a list", request_id=response.get("RequestId"))
    return [parse(item) for item in items]


def rfc3339(moment: DateTime) -> str:
    """DescribeLogs' StartTime/EndTime: RFC 3339 in UTC, whole seconds (``2025-06-01T02:00:05+00:00``)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
