"""One database transaction, seen the same way by the shared repository logic on SQLite and PostgreSQL.

The shared code (``ops_*.py``) writes SQL once with ``:name`` placeholders and plain Python values. A
:class:`Dialect` turns that into what each driver wants: ``%(name)s`` placeholders and ``Jsonb`` for psycopg;
epoch seconds, JSON text and 0/1 for sqlite3. Only the few statements that genuinely differ (bulk request
insert, time bucketing, listen/notify) live in the backend modules.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["Dialect", "Json", "PostgresDialect", "SqliteDialect", "Tx"]


class Json:
    """Marks a parameter to be stored in a JSON column (jsonb on PostgreSQL, TEXT on SQLite)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _json_default(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode("utf-8")


class Dialect:
    name: str
    for_update: str  # row lock suffix for read-modify-write; SQLite needs none (writers are serialised)

    def sql(self, text: str) -> str:
        return text

    def param(self, value: Any) -> Any:
        return value

    def dt(self, value: Any) -> datetime | None:
        raise NotImplementedError

    def json(self, value: Any) -> Any:
        raise NotImplementedError

    def trunc(self, unit: str, column: str) -> str:
        """SQL expression truncating a time column to the start of its hour or day (UTC)."""
        raise NotImplementedError


class SqliteDialect(Dialect):
    name = "sqlite"
    for_update = ""

    def param(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, Json):
            return dumps(value.value)
        return value

    def dt(self, value: Any) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(value, UTC)

    def json(self, value: Any) -> Any:
        return None if value is None else orjson.loads(value)

    def trunc(self, unit: str, column: str) -> str:
        seconds = {"hour": 3600, "day": 86400}[unit]
        return f"(CAST({column} AS INTEGER) / {seconds} * {seconds})"


class PostgresDialect(Dialect):
    name = "postgres"
    for_update = " FOR UPDATE"

    def __init__(self) -> None:
        from psycopg.types.json import Jsonb

        self._jsonb = Jsonb

    @staticmethod
    @functools.lru_cache(maxsize=512)
    def _convert(text: str) -> str:
        # ":name" → "%(name)s"; "::type" casts and literal "%" survive.
        return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", text.replace("%", "%%"))

    def sql(self, text: str) -> str:
        return self._convert(text)

    def param(self, value: Any) -> Any:
        if isinstance(value, Json):
            return self._jsonb(value.value, dumps=dumps)
        return value

    def dt(self, value: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def json(self, value: Any) -> Any:
        return value  # psycopg already loaded jsonb

    def trunc(self, unit: str, column: str) -> str:
        return f"date_trunc('{unit}', {column}, 'UTC')"


class Tx:
    """A transaction in progress: ``one``/``all``/``run`` with ``:name`` parameters given as keywords.

    ``now`` is the single timestamp of this unit of work (so a change and its event carry the same time, and
    tests can inject a clock); ``cipher`` seals and opens the columns stored encrypted.
    """

    __slots__ = ("_conn", "cipher", "d", "now")

    def __init__(self, conn: Any, dialect: Dialect, now: datetime, cipher: Any = None) -> None:
        self._conn = conn
        self.d = dialect
        self.now = now
        self.cipher = cipher  # the TokenCipher for columns stored encrypted

    def _params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        p = self.d.param
        return {k: p(v) for k, v in params.items()}

    def one(self, sql: str, **params: Any) -> Any:
        return self._conn.execute(self.d.sql(sql), self._params(params)).fetchone()

    def all(self, sql: str, **params: Any) -> list[Any]:
        return self._conn.execute(self.d.sql(sql), self._params(params)).fetchall()

    def run(self, sql: str, **params: Any) -> int:
        return self._conn.execute(self.d.sql(sql), self._params(params)).rowcount

    def many(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            cur = self._conn.cursor()
            cur.executemany(self.d.sql(sql), [self._params(r) for r in rows])

    @property
    def connection(self) -> Any:
        """The raw driver connection, for backend-specific statements only."""
        return self._conn
