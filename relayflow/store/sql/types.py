"""Column types shared by the models: aware UTC datetimes and JSON (JSONB on PostgreSQL)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from relayflow.store.common import utc


class UTCDateTime(TypeDecorator[datetime]):
    """Stored in UTC; always read back aware. SQLite keeps no offset, so values are converted to
    UTC before they are written, which also keeps its text comparisons in time order."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


def json_type(*, nullable: bool = False) -> TypeEngine[Any]:
    """JSON, JSONB on PostgreSQL. With ``nullable`` a Python None is SQL NULL, not JSON null."""
    return JSON(none_as_null=nullable).with_variant(JSONB(none_as_null=nullable), "postgresql")


# an escaped NUL (\u0000 after an even number of backslashes); PostgreSQL's JSONB refuses it
_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def dumps(value: Any) -> str:
    """orjson; NUL characters become U+FFFD on every database, so both store the same text."""
    text = orjson.dumps(value, default=_fallback, option=orjson.OPT_NON_STR_KEYS).decode()
    return _NUL.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def loads(value: str | bytes) -> Any:
    return orjson.loads(value)


def _fallback(value: Any) -> Any:
    """What JSON cannot hold is kept as text rather than failing the write (a node's odd output)."""
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)
