"""One parameter value checked against its declared type, as both services take them: exactly typed in a
JSON body, converted from a query or form string otherwise."""

from __future__ import annotations

import re
from typing import Any

from .errors import ApiError

_TYPE_NAMES = {"str": "String", "int": "Integer", "bool": "Boolean", "list": "Array of String"}


def coerce(name: str, kind: str, value: Any, typed: bool) -> Any:
    """Check (JSON) or convert (query/form strings) one value; InvalidParameter on a type mismatch."""
    bad = ApiError("InvalidParameter", f"The parameter `{name}` must be {_TYPE_NAMES[kind]}.")
    if kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        return value
    if typed:
        ok = {
            "str": isinstance(value, str),
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
        }[kind]
        if not ok:
            raise bad
        return value
    if not isinstance(value, str):
        raise bad
    if kind == "int":
        if len(value) > 40 or not re.fullmatch(r"-?\d+", value.strip()):  # int64 needs 20 characters
            raise bad
        return int(value)
    if kind == "bool":
        if value.lower() not in ("true", "false", "1", "0"):
            raise bad
        return value.lower() in ("true", "1")
    return value
