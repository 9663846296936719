"""Query results as Athena gives them: its type names, its text for each value, its results CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

#: DuckDB result types -> the names Athena reports in ColumnInfo.
_ATHENA_TYPES = {
    "VARCHAR": "varchar",
    "BIGINT": "bigint",
    "HUGEINT": "bigint",
    "UBIGINT": "bigint",
    "INTEGER": "integer",
    "UINTEGER": "bigint",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "DOUBLE": "double",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "BLOB": "varbinary",
    "UUID": "varchar",
    "INTERVAL": "interval day to second",
}


def athena_type(duckdb_type_name: str) -> tuple[str, int, int]:
    """(Athena type, precision, scale) of a DuckDB result column."""
    t = duckdb_type_name.upper()
    if t.endswith("[]"):
        return "array", 0, 0
    if t.startswith("DECIMAL"):
        found = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
        return ("decimal", int(found[1]), int(found[2])) if found else ("decimal", 38, 0)
    if t.startswith("STRUCT"):
        return "row", 0, 0
    if t.startswith("MAP"):
        return "map", 0, 0
    name = _ATHENA_TYPES.get(t, "varchar")
    precision = {"varchar": 2147483647, "bigint": 19, "integer": 10, "double": 17, "real": 7}.get(name, 0)
    return name, precision, 0


def athena_text(value: Any, athena_type_name: str = "") -> str | None:
    """A value as Athena writes it in results (and in the results CSV); ``None`` for NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        return text + " UTC" if athena_type_name == "timestamp with time zone" else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_nested(k)}={_nested(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return " ".join(f"{b:02x}" for b in value)
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _nested(value: Any) -> str:
    text = athena_text(value)
    return "null" if text is None else text


def java_double(value: float) -> str:
    """Java's ``Double.toString``, which Athena's results use: ``2.5``, ``100.0``, ``1.0E-4``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    magnitude = abs(value)
    if value == 0 or 1e-3 <= magnitude < 1e7:
        text = repr(value)
        if "e" in text:  # repr switches to exponents differently from Java
            text = f"{value:.17f}".rstrip("0")
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    digits_text = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) - 1 + int(exponent)
    mantissa = digits_text[0] + "." + (digits_text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{power}"


def results_csv(columns: Sequence[str], rows: Iterable[Sequence[str | None]]) -> bytes:
    """Athena's results file: a header, every value quoted, NULL as nothing at all."""
    out = io.StringIO()

    def line(values: Sequence[str | None]) -> str:
        return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\n"

    out.write(line(columns))
    for row in rows:
        out.write(line(row))
    return out.getvalue().encode()


def read_results_csv(body: bytes) -> list[list[str]]:
    """The results file back as rows (a test helper: NULL and '' both read as '')."""
    return list(csv.reader(io.StringIO(body.decode())))
