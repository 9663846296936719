"""What the stand-in needs of a Glue table, and the DuckDB view that reads it from the cache."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from devstack.athena.sql import QueryError, duckdb_type, quote, quote_ident


@dataclass(frozen=True)
class TableDef:
    """What the stand-in needs of a Glue table."""

    database: str
    name: str
    bucket: str
    prefix: str  # of the location, ending in "/" (or empty)
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)
    partition_keys: tuple[tuple[str, str], ...]
    projection: tuple[str, str] | None  # (first, last) date partition values, inclusive

    @property
    def signature(self) -> str:
        """Changes when what the cache holds would change (then the cache starts over)."""
        text = json.dumps([self.bucket, self.prefix, self.columns, self.partition_keys])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_glue(cls, database: str, table: Mapping[str, Any], today: date) -> TableDef:
        """Raises QueryError for a table this stand-in cannot read (format, location, layout)."""
        sd = table.get("StorageDescriptor", {})
        params = table.get("Parameters", {})
        serde = sd.get("SerdeInfo", {}).get("SerializationLibrary", "")
        if "json" not in serde.lower() and params.get("classification") != "json":
            raise QueryError("NOT_SUPPORTED", f"table {table['Name']}: only JSON tables are supported")
        location = str(sd.get("Location", ""))
        found = re.fullmatch(r"s3a?://([^/]+)/?(.*)", location)
        if not found:
            raise QueryError("NOT_SUPPORTED", f"table {table['Name']}: location {location!r} is not in S3")
        bucket, prefix = found[1], found[2]
        prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        keys = tuple((k["Name"].lower(), "VARCHAR") for k in table.get("PartitionKeys", []))
        template = params.get("storage.location.template")
        hive = location.rstrip("/") + "/" + "/".join(f"{k}=${{{k}}}" for k, _ in keys) + "/"
        if template and template.rstrip("/") != hive.rstrip("/"):
            raise QueryError("NOT_SUPPORTED", f"storage.location.template {template!r} is not hive-style")
        projection = None
        if params.get("projection.enabled") == "true" and len(keys) == 1:
            projection = _date_projection(params, keys[0][0], today)
        columns = tuple((c["Name"].lower(), duckdb_type(c["Type"])) for c in sd.get("Columns", []))
        return cls(database, table["Name"].lower(), bucket, prefix, columns, keys, projection)


def _date_projection(params: Mapping[str, str], key: str, today: date) -> tuple[str, str] | None:
    """A ``date`` projection's range as partition values; other projection types are not applied."""
    if (
        params.get(f"projection.{key}.type") != "date"
        or params.get(f"projection.{key}.format") != "yyyy-MM-dd"
    ):
        return None
    bounds = []
    for bound in params.get(f"projection.{key}.range", "").split(","):
        bound = bound.strip()
        relative = re.fullmatch(r"NOW(?:([+-])(\d+)DAYS?)?", bound, re.IGNORECASE)
        if relative:
            days = int(relative[2] or 0) * (-1 if relative[1] == "-" else 1)
            bounds.append((today + timedelta(days=days)).isoformat())
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", bound):
            bounds.append(bound)
        else:
            return None
    return (bounds[0], bounds[1]) if len(bounds) == 2 else None


def view_sql(table: TableDef, files: Sequence[Path]) -> str:
    """The table as DuckDB sees it: its columns, then its partition keys, over ``files``."""
    names = [quote_ident(n) for n, _ in table.columns] + [quote_ident(n) for n, _ in table.partition_keys]
    if not files:
        nulls = [f"CAST(NULL AS {t}) AS {quote_ident(n)}" for n, t in (*table.columns, *table.partition_keys)]
        return "SELECT " + ", ".join(nulls) + " WHERE false"
    hive_types = "{" + ", ".join(f"{quote(n)}: {quote(t)}" for n, t in table.partition_keys) + "}"
    listed = "[" + ", ".join(quote(str(f)) for f in files) + "]"
    sql = (
        f"SELECT {', '.join(names)} FROM read_parquet({listed}, hive_partitioning = true, "  # noqa: S608 (our identifiers and paths, quoted)
        f"hive_types = {hive_types})"
    )
    if table.projection is not None:
        first, last = table.projection
        sql += f" WHERE {quote_ident(table.partition_keys[0][0])} BETWEEN {quote(first)} AND {quote(last)}"
    return sql
