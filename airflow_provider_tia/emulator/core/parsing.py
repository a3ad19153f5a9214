"""Reading an API 3.0 request: its action, version, region and parameters, from either signing form.

A TC3-signed request carries them in ``X-TC-*`` headers and a JSON body or a query/form string; a legacy
(HmacSHA1/HmacSHA256) request carries them as common parameters beside the action's own, flattened
(``PackageDir.0=a``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .errors import ApiError

LEGACY_COMMON = (
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "SignatureMethod",
    "Token",
    "Language",
    "Signature",
    "RequestClient",
)


@dataclass
class Parsed:
    """A request reduced to its action, version and action parameters."""

    action: str
    version: str
    region: str
    params: dict
    typed: bool  # True for JSON bodies (types must match), False for query/form strings
    legacy: dict[str, str] | None  # flat params of an HmacSHA1/HmacSHA256 request


def unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """``{"PackageDir.0": "a", "PackageDir.1": "b"}`` -> ``{"PackageDir": ["a", "b"]}`` (nested too)."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ApiError("InvalidParameter", f"The parameter `{key}` conflicts with `{part}`.")
        if isinstance(node.get(parts[-1]), dict):
            raise ApiError("InvalidParameter", f"The parameter `{key}` conflicts with its items.")
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        items = {k: listify(v) for k, v in node.items()}
        if items and all(k.isdigit() for k in items):
            return [items[k] for k in sorted(items, key=int)]
        return items

    return listify(root)


def parse(method: str, query: str, headers: dict[str, str], body: bytes) -> Parsed:
    """Read action, version and params from the X-TC-* form or the legacy common-parameter form."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if method == "POST" and ctype == "application/json":
        try:
            params = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise ApiError("InvalidParameter", "The request body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise ApiError("InvalidParameter", "The request body must be a JSON object.")
        return Parsed(*_tc_headers(headers), params, True, None)
    raw = query if method == "GET" else body.decode("utf-8", "replace")
    flat = dict(parse_qsl(raw, keep_blank_values=True))
    if "authorization" in headers or "x-tc-action" in headers:
        return Parsed(*_tc_headers(headers), unflatten(flat), False, None)
    params = {k: v for k, v in flat.items() if k not in LEGACY_COMMON}
    common = (flat.get("Action", ""), flat.get("Version", ""), flat.get("Region", ""))
    return Parsed(*common, unflatten(params), False, flat)


def _tc_headers(headers: dict[str, str]) -> tuple[str, str, str]:
    """Action, version and region of an X-TC-* request."""
    return tuple(headers.get(f"x-tc-{k}", "") for k in ("action", "version", "region"))  # type: ignore[return-value]
