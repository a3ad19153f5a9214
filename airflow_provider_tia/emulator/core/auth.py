"""Signature verification for Tencent Cloud API 3.0 requests, written from the public algorithm.

Two forms are accepted:

* TC3-HMAC-SHA256 (``Authorization`` header, ``X-TC-*`` headers), POST JSON/form or GET.
* The older HmacSHA1 / HmacSHA256 form: every common parameter travels with the others in the
  query string (GET) or form body (POST) and ``Signature`` is
  ``base64(HMAC(SecretKey, METHOD + host + path + "?" + sorted k=v joined by &))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

MAX_SKEW_SECONDS = 300
MAX_NONCES = 100_000  # legacy Nonces remembered for replay checks (the oldest go first beyond this)
DEFAULT_APP_ID, DEFAULT_UIN = 1250000000, "100000000001"
TC3_ALGORITHM = "TC3-HMAC-SHA256"
_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)"
    r"\s*,\s*Signature=(?P<sig>[0-9a-fA-F]{64})\s*$"
)


class AuthError(Exception):
    """An authentication failure carrying a Tencent Cloud error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Account:
    """The Tencent Cloud account a credential belongs to; jobs belong to accounts."""

    app_id: int = DEFAULT_APP_ID
    uin: str = DEFAULT_UIN


@dataclass(frozen=True)
class Credential:
    """A registered key pair of an account; ``token`` is set for temporary credentials."""

    secret_id: str
    secret_key: str
    token: str | None = None
    account: Account = Account()


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _hmac256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_canonical_request(
    method: str, uri: str, query: str, headers: Mapping[str, str], signed_headers: list[str], payload: bytes
) -> str:
    """Build the TC3 canonical request (header names/values lower-cased and trimmed)."""
    canonical_headers = "".join(f"{h}:{headers.get(h, '').strip().lower()}\n" for h in signed_headers)
    return "\n".join([method, uri, query, canonical_headers, ";".join(signed_headers), sha256_hex(payload)])


def tc3_signature(secret_key: str, date: str, service: str, timestamp: str, canonical_request: str) -> str:
    """Compute a TC3-HMAC-SHA256 signature (hex) for a canonical request."""
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [TC3_ALGORITHM, timestamp, scope, sha256_hex(canonical_request.encode("utf-8"))]
    )
    k_date = _hmac256(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac256(k_date, service)
    k_signing = _hmac256(k_service, "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def legacy_sign_string(method: str, host: str, path: str, params: Mapping[str, str]) -> str:
    """The string signed by the HmacSHA1/HmacSHA256 form (keys with '_' read as '.')."""
    flat = {k.replace("_", "."): v for k, v in params.items() if k != "Signature"}
    joined = "&".join(f"{k}={flat[k]}" for k in sorted(flat))
    return f"{method}{host}{path}?{joined}"


def legacy_signature(secret_key: str, sign_string: str, method: str) -> str:
    """base64(HMAC(secret_key, sign_string)) with SHA1 or SHA256."""
    digest = {"HmacSHA1": hashlib.sha1, "HmacSHA256": hashlib.sha256}.get(method)
    if digest is None:
        raise AuthError("AuthFailure.SignatureFailure", f"unsupported SignatureMethod {method!r}")
    mac = hmac.new(secret_key.encode("utf-8"), sign_string.encode("utf-8"), digest).digest()
    return base64.b64encode(mac).decode("ascii")


class Verifier:
    """Checks signatures against registered credentials; returns the caller's Credential.

    ``service`` is the service name (or names) a TC3 credential scope may sign for; ``service_of`` says
    which one a request signed, so one emulator can serve several services.
    """

    def __init__(self, service: str | Iterable[str] = "tia", max_skew: int = MAX_SKEW_SECONDS) -> None:
        self.services = (service,) if isinstance(service, str) else tuple(service)
        self.max_skew = max_skew
        self._creds: dict[str, Credential] = {}
        self._nonces: OrderedDict[tuple[str, str], float] = OrderedDict()  # (SecretId, Nonce) -> expiry
        self._nonce_lock = threading.Lock()

    def add(
        self, secret_id: str, secret_key: str, token: str | None = None, account: Account | None = None
    ) -> None:
        """Register (or replace) a credential of ``account`` (default: the default account)."""
        self._creds[secret_id] = Credential(secret_id, secret_key, token, account or Account())

    def credentials(self) -> list[Credential]:
        """Every registered credential."""
        return list(self._creds.values())

    def _check_nonce(self, secret_id: str, nonce: str, now: float | None) -> None:
        """Refuse a Nonce this SecretId already used within the signature window (a replayed request)."""
        now = time.time() if now is None else now
        with self._nonce_lock:
            while self._nonces and (
                next(iter(self._nonces.values())) < now or len(self._nonces) >= MAX_NONCES
            ):
                self._nonces.popitem(last=False)
            key = (secret_id, nonce)
            if key in self._nonces:
                raise AuthError(
                    "AuthFailure.SignatureFailure",
                    f"The Nonce {nonce} was already used within {self.max_skew} seconds (a replay).",
                )
            self._nonces[key] = now + 2 * self.max_skew

    def _lookup(self, secret_id: str) -> Credential:
        cred = self._creds.get(secret_id)
        if cred is None:
            raise AuthError(
                "AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure it is correct."
            )
        return cred

    @staticmethod
    def _check_token(cred: Credential, token: str | None) -> None:
        if cred.token is not None and token != cred.token:
            msg = "The token is missing." if not token else "The provided token is invalid."
            raise AuthError("AuthFailure.TokenFailure", msg)

    def _check_time(self, timestamp: str | None, now: float | None) -> int:
        try:
            ts = int(timestamp or "")
        except ValueError:
            raise AuthError("AuthFailure.SignatureFailure", f"invalid Timestamp {timestamp!r}") from None
        now = time.time() if now is None else now
        if abs(now - ts) > self.max_skew:
            raise AuthError(
                "AuthFailure.SignatureExpire",
                f"The signature expired: Timestamp {ts} differs from server time {int(now)} by more than "
                f"{self.max_skew} seconds.",
            )
        return ts

    def verify_tc3(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now: float | None = None,
    ) -> Credential:
        """Verify a TC3 request. ``headers`` must be keyed by lower-case names."""
        m = _AUTH_RE.match(headers.get("authorization", ""))
        if not m:
            raise AuthError("AuthFailure.InvalidAuthorization", "The Authorization header is malformed.")
        parts = m.group("cred").split("/")
        if len(parts) != 4 or parts[3] != "tc3_request":
            raise AuthError(
                "AuthFailure.InvalidAuthorization", "The Credential of Authorization is malformed."
            )
        secret_id, date, service, _ = parts
        if service not in self.services:
            expected = " or ".join(repr(s) for s in self.services)
            raise AuthError(
                "AuthFailure.InvalidAuthorization",
                f"The credential scope names service {service[:64]!r}, expected {expected}.",
            )
        signed = m.group("signed").lower().split(";")
        if "host" not in signed or "content-type" not in signed:
            raise AuthError(
                "AuthFailure.InvalidAuthorization", "SignedHeaders must include content-type and host."
            )
        ts = self._check_time(headers.get("x-tc-timestamp"), now)
        cred = self._lookup(secret_id)
        if datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d") != date:
            raise AuthError(
                "AuthFailure.SignatureFailure", "The credential date does not match X-TC-Timestamp."
            )
        payload = b"UNSIGNED-PAYLOAD" if headers.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD" else body
        canonical = tc3_canonical_request(method, path, query, headers, signed, payload)
        expected = tc3_signature(cred.secret_key, date, service, str(ts), canonical)
        if not hmac.compare_digest(expected, m.group("sig").lower()):
            raise AuthError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature is correct.",
            )
        self._check_token(cred, headers.get("x-tc-token") or None)
        return cred

    @staticmethod
    def service_of(headers: Mapping[str, str]) -> str:
        """The service named by a TC3 request's credential scope ("" when there is none); call after
        ``verify_tc3`` accepted the request."""
        m = _AUTH_RE.match(headers.get("authorization", ""))
        parts = m.group("cred").split("/") if m else []
        return parts[2] if len(parts) == 4 else ""

    def verify_legacy(
        self, method: str, host: str, path: str, params: Mapping[str, str], now: float | None = None
    ) -> Credential:
        """Verify an HmacSHA1/HmacSHA256 request whose common params are in ``params`` (flat strings)."""
        signature = params.get("Signature")
        secret_id = params.get("SecretId")
        if not signature or not secret_id:
            raise AuthError("AuthFailure.InvalidAuthorization", "Signature and SecretId are required.")
        nonce = params.get("Nonce", "")
        if not nonce:
            raise AuthError("MissingParameter", "The request is missing a required parameter `Nonce`.")
        if not (nonce.isascii() and nonce.isdigit()) or len(nonce) > 20 or int(nonce) == 0:
            raise AuthError("InvalidParameterValue", "The parameter `Nonce` must be a positive integer.")
        self._check_time(params.get("Timestamp"), now)
        cred = self._lookup(secret_id)
        sign_method = params.get("SignatureMethod") or "HmacSHA1"
        expected = legacy_signature(
            cred.secret_key, legacy_sign_string(method, host, path, params), sign_method
        )
        if not hmac.compare_digest(expected, signature):
            raise AuthError(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature is correct.",
            )
        self._check_token(cred, params.get("Token") or None)
        self._check_nonce(secret_id, nonce, now)
        return cred
