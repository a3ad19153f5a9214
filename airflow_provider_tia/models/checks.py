"""Validators for request specs built from rendered templates: ``check(value, path) -> value``.

Each check converts what a rendered template may give (``"2"`` -> 2, ``"true"`` -> True) and raises
``JobSpecError`` naming the field path (``resource_config_infos[0].InstanceNum``). Nested objects are
plain dicts with the API's field names (``Model``); unknown keys are refused by name. Messages never
quote a value of a ``secret`` field.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from airflow_provider_tia.exceptions import JobSpecError

Check = Callable[[Any, str], Any]
_INTEGER = r"[+-]?[0-9]+"  # ASCII digits only; fullmatch (no trailing newline); compiled on first use


def fail(path: str, problem: str) -> NoReturn:
    raise JobSpecError(path, problem)


def text(
    *,
    max_len: int | None = None,
    choices: Sequence[str] | None = None,
    pattern: str | None = None,
    rules: str = "",
) -> Check:
    """A string, at most ``max_len`` characters, one of ``choices``, or matching ``pattern`` (fullmatch);
    ``rules`` tells the user what a valid value looks like."""

    def check(value: Any, path: str) -> str:
        if not isinstance(value, str):
            fail(path, f"must be a string, got {type(value).__name__}")
        if max_len is not None and len(value) > max_len:
            fail(path, f"must be at most {max_len} characters, got {len(value)}")
        if choices is not None and value not in choices:
            fail(path, f"must be one of {', '.join(choices)}, got {value!r:.60}")
        if pattern is not None and not re.fullmatch(pattern, value):
            fail(path, f"{value!r:.80} is not valid" + (f": {rules}" if rules else ""))
        return value

    return check


def secret(value: Any, path: str) -> str:
    """A string whose value is never quoted (a password, an environment variable's value)."""
    if not isinstance(value, str):
        fail(path, f"must be a string, got {type(value).__name__}")
    return value


def integer(*, low: int | None = None, high: int | None = None) -> Check:
    """An integer in [low, high]; text of ASCII digits (a rendered template) is converted."""

    def check(value: Any, path: str) -> int:
        if isinstance(value, str) and re.fullmatch(_INTEGER, value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            fail(path, f"must be an integer, got {type(value).__name__} {str(value)!r:.40}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (
                f"at least {low}"
                if high is None
                else f"in [{low}, {high}]"
                if low is not None
                else f"<= {high}"
            )
            fail(path, f"must be {bounds}, got {value}")
        return value

    return check


def boolean(value: Any, path: str) -> bool:
    """True or False; the text ``true``/``false`` (any case, a rendered template) is converted."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        fail(path, f"must be true or false, got {type(value).__name__}")
    return value


def json_text(*, max_len: int) -> Check:
    """A string of at most ``max_len`` characters; a dict is written as JSON first."""
    as_text = text(max_len=max_len)

    def check(value: Any, path: str) -> str:
        if isinstance(value, Mapping):
            try:
                value = json.dumps(value, sort_keys=True)
            except (TypeError, ValueError) as error:
                fail(path, f"is not JSON-serialisable ({error})")
        return as_text(value, path)

    return check


def items(item: Check, *, min_items: int = 0, max_items: int | None = None, what: str = "items") -> Check:
    """A list whose every item passes ``item`` (paths ``field[i]``)."""

    def check(value: Any, path: str) -> list[Any]:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
            fail(path, f"must be a list, got {type(value).__name__}")
        if len(value) < min_items:
            fail(path, f"must hold at least {min_items} {what}, got {len(value)}")
        if max_items is not None and len(value) > max_items:
            fail(path, f"must hold at most {max_items} {what}, got {len(value)}")
        return [item(entry, f"{path}[{index}]") for index, entry in enumerate(value)]

    return check


def pairs(item_list: Check, key: str, value: str) -> Check:
    """``item_list``, or a dict ``{k: v}`` written as ``[{key: k, value: v}, ...]`` first."""

    def check(given: Any, path: str) -> list[Any]:
        if isinstance(given, Mapping):
            given = [{key: k, value: v} for k, v in given.items()]
        return item_list(given, path)

    return check


@dataclasses.dataclass(frozen=True)
class Model:
    """A nested API object: a dict with these keys (API names), ``required`` ones present, no others."""

    name: str
    fields: Mapping[str, Check]
    required: frozenset[str] = frozenset()
    rule: Callable[[dict[str, Any], str], None] | None = None  # a check across the fields

    def __call__(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            fail(
                path,
                f"must be a {self.name} object (a dict with API field names), got {type(value).__name__}",
            )
        unknown = [key for key in value if key not in self.fields]
        if unknown:
            names = ", ".join(f"{str(key)!r:.40}" for key in unknown)
            fail(path, f"has unknown field(s) {names}; {self.name} has {', '.join(self.fields)}")
        out: dict[str, Any] = {}
        for key, check in self.fields.items():
            if value.get(key) is None:
                if key in self.required:
                    fail(f"{path}.{key}", "is required")
                continue
            out[key] = check(value[key], f"{path}.{key}")
        if self.rule is not None:
            self.rule(out, path)
        return out


def model(
    name: str,
    required: str = "",
    rule: Callable[[dict[str, Any], str], None] | None = None,
    /,
    **fields: Check,
) -> Model:
    """``Model`` with its required keys as one space-separated string."""
    return Model(name, fields, frozenset(required.split()), rule)
