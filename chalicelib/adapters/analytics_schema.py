"""The engagement events table, defined once for Glue (CDK) and for the local stack (moto's Glue).

Firehose writes one JSON object per line under ``events/dt=YYYY-MM-DD/``; Athena reads them through
this table. ``dt`` is never registered as a partition: partition projection derives it from the
query's ``WHERE dt …`` so a new day is queryable the moment its first object lands.
"""

from __future__ import annotations

from typing import Any

EVENTS_PREFIX = "events/"
ERRORS_PREFIX = "events-errors/"
ATHENA_RESULTS_PREFIX = "athena-results/"
#: The first day partition projection knows; a query's dt range is clipped to [this, today].
PROJECTION_START = "2026-01-01"

#: (name, Glue/Hive type) in the order of the contract (see README § Engagement events).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("type", "string"),
    ("ts", "bigint"),
    ("client_ts", "bigint"),
    ("account_id", "string"),
    ("campaign_id", "string"),
    ("prospect_id", "string"),
    ("render_id", "string"),
    ("variant", "string"),
    ("session_id", "string"),
    ("position", "double"),
    ("duration", "double"),
    ("watched", "double"),
    ("ranges", "array<array<double>>"),
    ("quartile", "int"),
    ("quality", "string"),
    ("speed", "double"),
    ("method", "string"),
    ("user_agent", "string"),
    ("ip", "string"),
    ("bot", "boolean"),
    ("bot_reason", "string"),
)
PARTITION_KEYS: tuple[tuple[str, str], ...] = (("dt", "string"),)


def events_location(bucket: str) -> str:
    return f"s3://{bucket}/{EVENTS_PREFIX}"


def glue_table_input(bucket: str, table: str) -> dict[str, Any]:
    """Glue ``TableInput`` for the events table (``glue.create_table(DatabaseName=…, TableInput=…)``)."""
    location = events_location(bucket)
    return {
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "json",
            "EXTERNAL": "TRUE",
            "projection.enabled": "true",
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": f"{PROJECTION_START},NOW",
            "projection.dt.interval": "1",
            "projection.dt.interval.unit": "DAYS",
            "storage.location.template": f"{location}dt=${{dt}}/",
        },
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in PARTITION_KEYS],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in COLUMNS],
            "Location": location,
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                "Parameters": {"ignore.malformed.json": "true"},
            },
        },
    }
