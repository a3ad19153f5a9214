"""The connection id keyword of every class of this provider, its default, and its deprecated names.

One keyword, ``tencentcloud_conn_id``, for hooks, operators, sensors and triggers (as Amazon's
``aws_conn_id``); ``tia_conn_id`` and ``conn_id`` are accepted for one release with a warning.
"""

from __future__ import annotations

import warnings

from airflow.exceptions import AirflowProviderDeprecationWarning

DEFAULT_CONN_ID = "tencentcloud_default"
CONN_ID_KEYWORD = "tencentcloud_conn_id"


def connection_id(owner: str, given: str | None, old: dict[str, str | None]) -> str:
    """The connection id from ``tencentcloud_conn_id`` or one of its deprecated names (with a warning)."""
    named = {keyword: value for keyword, value in old.items() if value is not None}
    for keyword in named:
        warnings.warn(
            f"{owner}: {keyword!r} is deprecated, use {CONN_ID_KEYWORD!r}",
            AirflowProviderDeprecationWarning,
            stacklevel=4,
        )
    values = {value for value in (given, *named.values()) if value is not None}
    if len(values) > 1:
        raise ValueError(f"{owner}: give the connection id once, as {CONN_ID_KEYWORD!r}")
    return values.pop() if values else DEFAULT_CONN_ID
