"""Seedable fault injection per action.

Grammar (whitespace ignored)::

    spec    := section (";" section)*
    section := targets ":" rule ("," rule)*
    targets := "*" | Action ("," Action)*
    rule    := kind "=" rate                 rate in [0, 1]
             | "latency=" rate "@" seconds   adds a delay (combines with any other fault)
    kind    := ErrorCode | "http5xx" | "drop" | (ErrorCode | "http5xx" | "drop") "_after"

``ErrorCode`` (e.g. ``RequestLimitExceeded``, ``InternalError``, ``FailedOperation.TimeOut``) replies with
that error envelope; ``http5xx`` replies HTTP 502 or 503; ``drop`` closes the connection without a
response. ``*_after`` kinds first perform the action, then lose the reply that way. Each matching rule
draws once per request from that action's own stream, ``random.Random(f"{seed}:{action}")``; the first
firing rule wins. One stream per action keeps a seeded run's faults on each action the same however the
concurrent requests of different actions interleave (one shared stream made the count of, say, lost
CreateTrainingTask replies depend on thread timing).
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass

_CODE_RE = re.compile(r"^[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*$")
_ACTION_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class Rule:
    """One ``kind=rate`` rule of a section."""

    label: str  # the kind as written, e.g. "drop_after", used in counters
    kind: str  # "error" | "http5xx" | "drop" | "latency"
    rate: float
    code: str | None = None
    after: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class Fault:
    """A fault chosen for one request."""

    label: str
    kind: str
    after: bool
    code: str | None = None
    status: int = 0


def _parse_rate(text: str, token: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"fault spec: bad rate in {token!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fault spec: rate must be within [0, 1] in {token!r}")
    return rate


def _parse_rule(token: str) -> Rule:
    kind, sep, value = token.partition("=")
    kind, value = kind.strip(), value.strip()
    if not sep or not kind or not value:
        raise ValueError(f"fault spec: expected kind=rate, got {token!r}")
    if kind == "latency":
        rate_text, at, secs = value.partition("@")
        if not at:
            raise ValueError(f"fault spec: latency needs rate@seconds, got {token!r}")
        try:
            seconds = float(secs)
        except ValueError:
            raise ValueError(f"fault spec: bad seconds in {token!r}") from None
        if seconds < 0:
            raise ValueError(f"fault spec: negative seconds in {token!r}")
        return Rule(kind, "latency", _parse_rate(rate_text, token), seconds=seconds)
    rate = _parse_rate(value, token)
    base, after = (kind[: -len("_after")], True) if kind.endswith("_after") else (kind, False)
    if base in ("drop", "http5xx"):
        return Rule(kind, base, rate, after=after)
    if _CODE_RE.match(base):
        return Rule(kind, "error", rate, code=base, after=after)
    raise ValueError(f"fault spec: unknown fault kind {kind!r} in {token!r}")


def parse_spec(spec: str | None) -> list[tuple[frozenset[str] | None, list[Rule]]]:
    """Parse a spec into (actions or None for ``*``, rules) sections; ValueError names a bad token."""
    sections: list[tuple[frozenset[str] | None, list[Rule]]] = []
    for section in (spec or "").split(";"):
        if not section.strip():
            continue
        targets, sep, rules_text = section.partition(":")
        if not sep:
            raise ValueError(f"fault spec: section {section.strip()!r} lacks '<actions>:'")
        names = [t.strip() for t in targets.split(",")]
        if names == ["*"]:
            actions = None
        else:
            for name in names:
                if not _ACTION_RE.match(name):
                    raise ValueError(f"fault spec: bad action name {name!r} in {section.strip()!r}")
            actions = frozenset(names)
        rules = [_parse_rule(tok.strip()) for tok in rules_text.split(",") if tok.strip()]
        if not rules:
            raise ValueError(f"fault spec: section {section.strip()!r} has no rules")
        sections.append((actions, rules))
    return sections


class FaultInjector:
    """Decides, per request, an added latency and at most one fault; counts what it injected."""

    def __init__(self, spec: str | None = None, seed: int | None = 0) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()
        self.configure(spec, seed)

    def configure(self, spec: str | None, seed: int | None = 0) -> None:
        """Replace the rules (parsed first, so a bad spec leaves the old one) and reseed."""
        sections = parse_spec(spec)
        with self._lock:
            self.spec = spec or ""
            self._sections = sections
            self._seed = seed
            self._streams: dict[str, random.Random] = {}

    def reset_counts(self) -> None:
        """Forget the injected-fault counters."""
        with self._lock:
            self.counts.clear()

    def decide(self, action: str) -> tuple[float, Fault | None]:
        """Latency in seconds and the fault (or None) for one request of ``action``."""
        latency, fault = 0.0, None
        with self._lock:
            rng = self._streams.get(action)
            if rng is None:
                rng = random.Random(None if self._seed is None else f"{self._seed}:{action}")
                self._streams[action] = rng
            for actions, rules in self._sections:
                if actions is not None and action not in actions:
                    continue
                for rule in rules:
                    if rng.random() >= rule.rate:
                        continue
                    if rule.kind == "latency":
                        latency += rule.seconds
                        self.counts[(action, rule.label)] += 1
                    elif fault is None:
                        status = rng.choice((502, 503)) if rule.kind == "http5xx" else 0
                        fault = Fault(rule.label, rule.kind, rule.after, rule.code, status)
                        self.counts[(action, rule.label)] += 1
        return latency, fault
