"""Secrets this process has seen (credentials, tokens, image passwords) and their redaction.

Below every layer: the hooks register what they read from a connection, the models register secret
fields of a request, and every text that may reach a log line or an exception passes ``redact``. The
SDK's own logger gets a filter that redacts too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

SDK_LOGGER = "tencentcloud_sdk_common"


MASK = "***"  # what Airflow's secret masker writes
# Reply and request fields whose value is a secret, wherever they are nested.
SECRET_FIELDS = ("Password", "AppSecret", "AuthToken", "AuthTokenValue")
ENV_FIELDS = ("Env", "Envs")  # lists of {"Name", "Value"}: every Value is treated as a secret


def masked(value: Any) -> Any:
    """A reply (or request) with its secrets replaced by ``***``: env values, image passwords, tokens
    and AppSecret, wherever they are nested. The input is not changed. The one place that decides what
    of a TI-ONE reply may reach XCom."""
    if isinstance(value, list):
        return [masked(item) for item in value]
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in SECRET_FIELDS and isinstance(item, str) and item:
            out[key] = MASK
        elif key in ENV_FIELDS and isinstance(item, list):
            out[key] = [
                {**e, "Value": MASK} if isinstance(e, Mapping) and e.get("Value") else e for e in item
            ]
        elif key == "Base" and isinstance(item, Mapping) and item.get("Value"):  # AuthToken.Base
            out[key] = {**masked(item), "Value": MASK}
        else:
            out[key] = masked(item)
    return out


# As Airflow's masker: a "secret" of a few characters would turn ordinary words into "***".
MIN_SECRET_LENGTH = 5


# ------------------------------------------------------------------------------------------ secrets
class SecretRegistry:
    """Secrets to strip from our own error texts and from the SDK's DEBUG log.

    Filled only by explicit ``register_secrets`` calls (a hook registers its connection's secrets when
    it reads them); nothing else reads or writes it.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str) -> None:
        self._secrets.add(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)


SECRETS = SecretRegistry()


def register_secrets(*secrets: str | None) -> None:
    """Mask these secrets everywhere: Airflow's secret masker, our error texts, the SDK's DEBUG log.

    Values shorter than ``MIN_SECRET_LENGTH`` are skipped, as Airflow's masker would (with a warning).
    """
    for secret in secrets:
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            continue
        SECRETS.add(secret)
        try:
            from airflow_provider_tia.compat import mask_secret

            mask_secret(secret)
        except Exception:  # pragma: no cover - masking is best effort outside a task
            log.debug("Airflow's secret masker is unavailable here")
    _install_sdk_log_redaction()


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` by ``***``."""
    return SECRETS.redact(text)


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if SECRETS:
            record.msg, record.args = redact(record.getMessage()), None
        return True


def _install_sdk_log_redaction() -> None:
    """At DEBUG the SDK logs whole requests (X-TC-Token included): strip our secrets from them."""
    sdk_logger = logging.getLogger(SDK_LOGGER)
    if not any(isinstance(f, _RedactFilter) for f in sdk_logger.filters):
        sdk_logger.addFilter(_RedactFilter())
