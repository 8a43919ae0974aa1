"""Secret scrubbing (X6): credential values never reach run records, events or logs.

An execution remembers every secret value the vault handed its nodes (``SecretSet``, made on the
first ``ctx.credentials`` call: executions that use no credential pay nothing). Before a node run
is recorded, its output, error and captured logs are scrubbed: each secret is searched for in the
forms it may take on the way through an HTTP exchange or a Code node — raw, JSON-escaped,
base64 (standard and URL-safe, padded or not, and at each of the three byte alignments it can
have inside a longer base64 text), URL-encoded (``quote``, ``quote_plus``, either hex case) and
hex (lower and upper) — and replaced by ``[redacted]``, in keys as in values.

Logs: while any execution holding secrets is alive, every log record is scrubbed against the
secrets of all live executions (a process-wide weak registry) before any handler sees it; the
record factory is wrapped on first use, since a ``logging.Filter`` on the ``relayflow`` logger
would not see records propagating from its children. ``SecretLogFilter`` is the same work as a
filter, for handlers of other trees.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import orjson

from relayflow.engine.run import NodeRun

REDACTED = "[redacted]"
# shorter values are not treated as secrets: redacting them would mangle ordinary data
MIN_SECRET_CHARS = 4
# an unaligned base64 core shorter than this is too likely to occur by chance
MIN_SHIFTED_CHARS = 8

T = TypeVar("T")


def _b64_shifted(raw: bytes, alphabet: bytes | None) -> list[str]:
    """The base64 characters that depend only on ``raw`` when it sits at each of the three byte
    offsets (mod 3) of a longer encoded text."""
    out = []
    for offset in (1, 2):
        enc = base64.b64encode(b"\0" * offset + raw, altchars=alphabet).decode()
        start = -(-offset * 8 // 6)  # ceil
        end = (offset + len(raw)) * 8 // 6
        core = enc[start:end]
        if len(core) >= MIN_SHIFTED_CHARS:
            out.append(core)
    enc = base64.b64encode(raw, altchars=alphabet).decode()
    core = enc[: len(raw) * 8 // 6]
    if len(core) >= MIN_SHIFTED_CHARS:
        out.append(core)
    return out


_PERCENT = re.compile(r"%[0-9A-F]{2}")


def forms(secret: str) -> set[str]:
    """Every text under which ``secret`` is searched for (none for a too short one)."""
    if len(secret) < MIN_SECRET_CHARS:
        return set()
    raw = secret.encode()
    found = {secret, orjson.dumps(secret).decode()[1:-1]}
    for alphabet in (None, b"-_"):
        padded = base64.b64encode(raw, altchars=alphabet).decode()
        found.update((padded, padded.rstrip("=")))
        found.update(_b64_shifted(raw, alphabet))
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret)):
        found.update((encoded, _PERCENT.sub(lambda m: m.group(0).lower(), encoded)))
    found.update((raw.hex(), raw.hex().upper()))
    return {f for f in found if len(f) >= MIN_SECRET_CHARS}


class Scrubber:
    """Replaces the forms of a fixed set of secrets in text and in JSON-like values."""

    def __init__(self, secrets: Iterable[str]) -> None:
        every = {f for s in secrets for f in forms(s)}
        # longest first: a full form wins over the shorter one it contains
        alternatives = sorted(every, key=lambda f: (-len(f), f))
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(REDACTED, value)

    def value(self, value: T) -> T:
        """``value`` with every string scrubbed (dict keys too); other scalars as they are.
        Containers are copied only when something inside them changed."""
        out: Any = self._value(value)
        return out  # type: ignore[no-any-return]

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            changed = False
            new: dict[Any, Any] = {}
            for k, v in value.items():
                k2 = self.text(k) if isinstance(k, str) else k
                v2 = self._value(v)
                changed = changed or k2 is not k or v2 is not v
                new[k2] = v2
            return new if changed else value
        if isinstance(value, (list, tuple)):
            items = [self._value(v) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return items if isinstance(value, list) else tuple(items)
        return value


# inside a secret JSON field (OAuth2 token data), entries that are not secret and whose values
# ("Bearer", a scope) would otherwise be redacted from every text of the execution
_PLAIN_KEYS = frozenset({"token_type", "scope", "expires_in", "expires_at"})


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if k not in _PLAIN_KEYS:
                yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _secret_fields(type_: str) -> frozenset[str] | None:
    """The secret field names of a known credential type, None for a type relayflow does not
    describe (then every string value counts). Imported lazily: the credential types are pure
    data, but the engine should not load them until a credential is used."""
    try:
        from relayflow.credentials.types import get_type
    except ImportError:  # pragma: no cover - the credentials package is part of relayflow
        return None
    known = get_type(type_)
    return frozenset(known.secret_fields) if known is not None else None


def secret_values(type_: str, data: Mapping[str, Any]) -> set[str]:
    """The values of a credential that must never be recorded: its secret fields' strings
    (every string when the type is unknown), and ``user:password`` for the Basic scheme."""
    secret = _secret_fields(type_)
    chosen = data if secret is None else {k: v for k, v in data.items() if k in secret}
    values = {s for s in _strings(chosen) if len(s) >= MIN_SECRET_CHARS}
    user, password = data.get("user"), data.get("password")
    if isinstance(user, str) and isinstance(password, str) and password:
        values.add(f"{user}:{password}")
    return values


# --- the secrets of live executions -------------------------------------------------------------
_live: weakref.WeakSet[SecretSet] = weakref.WeakSet()
_lock = threading.Lock()
_generation = 0
_log_scrubber: tuple[int, Scrubber | None] = (-1, None)
_installed = False


class SecretSet:
    """The secrets one execution was handed; scrubs values against them."""

    __slots__ = ("__weakref__", "_scrubber", "_secrets")

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._scrubber: Scrubber | None = None
        _install_log_scrubbing()
        with _lock:
            _live.add(self)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __contains__(self, value: str) -> bool:
        return value in self._secrets

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def add(self, values: Iterable[str]) -> None:
        global _generation
        new = {v for v in values if len(v) >= MIN_SECRET_CHARS} - self._secrets
        if new:
            self._secrets |= new
            self._scrubber = None
            with _lock:
                _generation += 1

    def add_credential(self, type_: str, data: Mapping[str, Any]) -> None:
        self.add(secret_values(type_, data))

    def scrub(self, value: T) -> T:
        if not self._secrets:
            return value
        if self._scrubber is None:
            self._scrubber = Scrubber(self._secrets)
        return self._scrubber.value(value)

    def scrub_run(self, run: NodeRun, outputs: T) -> T:
        """The run's output, with its error and captured logs scrubbed in place (X6)."""
        run.error = self.scrub(run.error)
        run.logs = self.scrub(run.logs)
        return self.scrub(outputs)


def live_scrubber() -> Scrubber | None:
    """One scrubber for the secrets of every live execution (None when there are none)."""
    global _log_scrubber
    generation, scrubber = _log_scrubber
    if generation == _generation:
        return scrubber
    with _lock:
        generation = _generation
        secrets = {s for held in _live for s in held.secrets}
    scrubber = Scrubber(secrets) if secrets else None
    _log_scrubber = (generation, scrubber)
    return scrubber


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub a log record in place: its message (args merged), exception and stack texts."""
    if not _live:
        return
    scrubber = live_scrubber()
    if scrubber is None:
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it later, unscrubbed args dropped
        message = str(record.msg)
    record.msg, record.args = scrubber.text(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrubber.text(record.exc_text)
    if record.stack_info:
        record.stack_info = scrubber.text(record.stack_info)


class SecretLogFilter(logging.Filter):
    """Scrubs records against the secrets of live executions; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def _install_log_scrubbing() -> None:
    """Wrap the log record factory once, so every record (whichever logger made it) is scrubbed
    before a handler or a filter sees it; a no-op test while no execution holds secrets."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _live:
            scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)
