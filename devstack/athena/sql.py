"""Athena (Trino) SQL as DuckDB's: parameters bound, one query parsed and translated with ``sqlglot``.

Also the Glue column types as DuckDB's, and the DuckDB session a query runs in (UTC, the
``awsdatacatalog`` catalog, file access confined and configuration locked).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

CATALOG = "awsdatacatalog"
#: Glue/Hive column types -> DuckDB's (nested types are translated recursively).
_SCALARS = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "binary": "BLOB",
}
_ATHENA = Dialect.get_or_raise("athena")


class QueryError(Exception):
    """A query failed for a reason Athena would give: ``kind`` is Athena's error name."""

    def __init__(self, kind: str, message: str, user: bool = True) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.user = user


def athena_literal(value: str) -> str:
    """One ``ExecutionParameters`` value as the SQL literal it stands for.

    Raises
    ------
    QueryError
        The value is not exactly one literal (``'a' OR 'b'``, ``x' OR 'a'='a``, ``1; DROP …``).
    """
    try:
        tokens = _ATHENA.tokenize(value)
    except TokenError as exc:
        raise QueryError(
            "INVALID_PARAMETER_USAGE", f"execution parameter {value!r} is not a literal"
        ) from exc
    kinds = [t.token_type for t in tokens]
    if kinds == [TokenType.STRING]:
        return quote(tokens[0].text)
    if kinds in ([TokenType.NUMBER], [TokenType.DASH, TokenType.NUMBER]):
        return "".join(t.text for t in tokens)
    if kinds in ([TokenType.TRUE], [TokenType.FALSE], [TokenType.NULL]):
        return tokens[0].text.upper()
    if len(tokens) == 2 and kinds[1] == TokenType.STRING and tokens[0].text.upper() in ("DATE", "TIMESTAMP"):
        return f"{tokens[0].text.upper()} {quote(tokens[1].text)}"
    raise QueryError("INVALID_PARAMETER_USAGE", f"execution parameter {value!r} is not a single literal")


def quote(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def bind_parameters(sql: str, parameters: Sequence[str]) -> str:
    """Replace the query's ``?`` placeholders, in order, with the parameters' literals.

    Placeholders are found by tokenizing, so a ``?`` inside a string or a comment is left alone.

    Raises
    ------
    QueryError
        A parameter is not a literal, or their count does not match the placeholders'.
    """
    try:
        tokens = _ATHENA.tokenize(sql)
    except TokenError as exc:
        raise QueryError("SYNTAX_ERROR", str(exc)) from exc
    marks = [t for t in tokens if t.token_type == TokenType.PLACEHOLDER and t.text == "?"]
    if len(marks) != len(parameters):
        raise QueryError(
            "INVALID_PARAMETER_USAGE",
            f"the query has {len(marks)} parameter(s) but {len(parameters)} value(s) were given",
        )
    out, position = [], 0
    for mark, value in zip(marks, parameters, strict=True):
        out.append(sql[position : mark.start])
        out.append(athena_literal(value))
        position = mark.end + 1
    out.append(sql[position:])
    return "".join(out)


def parse_query(sql: str) -> exp.Query:
    """The one read-only statement in ``sql`` (Athena's dialect).

    Raises
    ------
    QueryError
        A syntax error, more than one statement, or a statement that is not a query.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except (ParseError, TokenError) as exc:
        raise QueryError("SYNTAX_ERROR", str(exc).splitlines()[0]) from exc
    if len(statements) != 1:
        raise QueryError("SYNTAX_ERROR", f"Only one sql statement is allowed. Got: {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise QueryError(
            "NOT_SUPPORTED", f"the local Athena stand-in runs queries only, not {statement.key.upper()}"
        )
    return statement


def to_duckdb(statement: exp.Query) -> str:
    """The statement in DuckDB's dialect (what ``sqlglot.transpile(…, write="duckdb")`` writes).

    ``reduce``'s output function has no DuckDB equivalent; when it is the identity (``s -> s``)
    it is dropped, which changes nothing, instead of being warned about and dropped anyway.
    """
    statement = statement.copy()
    for node in statement.find_all(exp.Reduce):
        finish = node.args.get("finish")
        if isinstance(finish, exp.Lambda) and _is_identity(finish):
            node.set("finish", None)
    return statement.sql(dialect="duckdb")


def translate(sql: str, parameters: Sequence[str] = ()) -> str:
    """Athena SQL with its parameters bound, as DuckDB SQL.

    Raises
    ------
    QueryError
        See :func:`bind_parameters` and :func:`parse_query`.
    """
    return to_duckdb(parse_query(bind_parameters(sql, parameters)))


def _is_identity(fn: exp.Lambda) -> bool:
    params = fn.expressions
    body = fn.this
    if isinstance(body, exp.Column) and not body.table:
        body = body.this
    return len(params) == 1 and isinstance(body, exp.Identifier) and body.name == params[0].name


def duckdb_type(glue_type: str) -> str:
    """A Glue/Hive column type (``array<array<double>>``, ``struct<a:int>``) as DuckDB's.

    Raises
    ------
    QueryError
        A type the stand-in does not know.
    """
    t = glue_type.strip().lower()
    if t in _SCALARS:
        return _SCALARS[t]
    if found := re.fullmatch(r"(?:decimal|numeric)\((\d+),\s*(\d+)\)", t):
        return f"DECIMAL({found[1]},{found[2]})"
    if found := re.fullmatch(r"(?:varchar|char)\(\d+\)", t):
        return "VARCHAR"
    if t.startswith("array<") and t.endswith(">"):
        return duckdb_type(t[6:-1]) + "[]"
    if t.startswith("map<") and t.endswith(">"):
        key, value = _split_top(t[4:-1])
        return f"MAP({duckdb_type(key)}, {duckdb_type(value)})"
    if t.startswith("struct<") and t.endswith(">"):
        fields = []
        for member in _split_top(t[7:-1]):
            name, _, kind = member.partition(":")
            fields.append(f'"{name.strip()}" {duckdb_type(kind)}')
        return f"STRUCT({', '.join(fields)})"
    raise QueryError("NOT_SUPPORTED", f"column type {glue_type!r} is not supported by the local stand-in")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside ``<…>``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def connect(allowed_directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with Athena's session semantics (UTC) and the ``awsdatacatalog``
    catalog. Call :func:`lock_down` once the tables are defined."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"ATTACH ':memory:' AS {CATALOG}")
    if allowed_directory is not None:
        con.execute(f"SET allowed_directories = [{quote(str(allowed_directory) + os.sep)}]")
    return con


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file outside the allowed directory, and no configuration change, from here on."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def use_database(con: duckdb.DuckDBPyConnection, database: str) -> None:
    con.execute(f'CREATE SCHEMA IF NOT EXISTS {CATALOG}."{glue_name(database)}"')
    con.execute(f'USE {CATALOG}."{glue_name(database)}"')


def glue_name(name: str) -> str:
    """``name`` if it is a valid Glue database or table name (it is then safe to quote)."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,255}", name):
        raise QueryError("NOT_SUPPORTED", f"identifier {name!r} is not a Glue name")
    return name
