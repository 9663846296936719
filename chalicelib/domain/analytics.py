"""Engagement analytics: the SQL (written once, in Athena's dialect) and the answers it gives.

Pure: no boto3 here. Athena runs these queries in the cloud; locally the Athena stand-in
(``devstack/athena/``) translates the same text to DuckDB with ``sqlglot``. Adapters execute a
:class:`Query` and hand the rows back, every value a string or ``None`` as Athena returns them,
to :func:`prospect_engagement`, :func:`campaign_engagement` or :func:`account_engagement`.

Semantics (the contract of issue 7):

* a **human** event is ``bot = false`` and not a ``page_request`` (a GET or HEAD of the watch page
  never counts as a view);
* a **bot hit** is an event flagged ``bot`` (counted under its ``bot_reason``), or an unflagged
  ``page_request`` whose session never had a human ``play`` (``get_without_play``: a GET cannot
  know what follows it, so that is decided here);
* the funnel counts distinct prospects; plays count distinct sessions with a human ``play``;
  watch time sums the lengths of the watched ranges of human ``heartbeat`` and ``ended`` events.

Every query is bound to the tenant: ``account_id = ?`` (and the campaign, the prospect) are
execution parameters, never text pasted into the SQL. Every query also prunes the ``dt``
partitions, with a day of slack on each side: an event's ``dt`` is the day Firehose received the
batch it travelled in, which can be the day after (or, for a batch opened just before midnight,
the day before) the day of its ``ts``; the exact window is then applied to ``ts``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, Field

from chalicelib.domain.errors import FieldIssue, InvalidInputError, StorageError

#: A row as Athena's GetQueryResults gives it: column name -> text, ``None`` for SQL NULL.
Row = Mapping[str, str | None]
#: An execution parameter, before it is written as an Athena literal.
Param = str | int

#: The heatmap's length when the video's duration is unknown (the product caps videos at 300 s).
MAX_HEATMAP_SECONDS = 3600
#: The bot reason of an unflagged page request with no human play in its session.
GET_WITHOUT_PLAY = "get_without_play"

_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,254}")


# --------------------------------------------------------------------------- answers


class BotHits(BaseModel):
    """Hits that are not a person: left out of every figure, shown as their own count."""

    total: int = 0
    by_reason: dict[str, int] = Field(default_factory=dict)


class ProspectEngagement(BaseModel):
    """One prospect's engagement in the window."""

    account_id: str
    campaign_id: str
    prospect_id: str
    since: date
    until: date
    first_viewed_at: datetime | None = Field(description="first human play, heartbeat, quartile or end")
    last_viewed_at: datetime | None
    plays: int = Field(description="sessions with a human play")
    watch_seconds: float = Field(description="sum of the watched ranges (a rewatch counts again)")
    max_percent: float = Field(description="furthest point reached, 0-100")
    cta_clicks: int
    duration: float | None = Field(description="the video's duration, seconds, when known")
    heatmap: list[int] = Field(description="per second of the video: how many watched ranges covered it")
    bot_hits: BotHits


class Funnel(BaseModel):
    """Distinct prospects at each step; rates are 0 when their denominator is."""

    sent: int = 0
    opened: int = 0
    played: int = 0
    half: int = 0
    completed: int = 0
    cta: int = 0
    completion_rate: float = Field(default=0.0, description="completed / played")
    cta_rate: float = Field(default=0.0, description="cta / opened")


class VariantFunnel(Funnel):
    variant: str


class DayEngagement(BaseModel):
    """Distinct prospects per UTC day (of the event's ``ts``)."""

    day: date
    opened: int = 0
    played: int = 0
    completed: int = 0
    cta: int = 0


class CampaignEngagement(BaseModel):
    account_id: str
    campaign_id: str
    since: date
    until: date
    funnel: Funnel
    by_variant: list[VariantFunnel]
    by_day: list[DayEngagement] = Field(description="every day of the window, oldest first")
    bots: BotHits


class Usage(BaseModel):
    """Account figures: distinct prospects (sent, opened, completed), sessions (plays), sums."""

    sent: int = 0
    opened: int = 0
    plays: int = 0
    watch_seconds: float = 0.0
    completed: int = 0
    cta_clicks: int = 0
    bot_hits: int = 0


class MonthUsage(Usage):
    month: str = Field(description="YYYY-MM (UTC)")


class CampaignUsage(Usage):
    campaign_id: str


class AccountEngagement(BaseModel):
    account_id: str
    since: date
    until: date
    by_month: list[MonthUsage] = Field(description="months with activity, oldest first")
    by_campaign: list[CampaignUsage] = Field(description="campaigns with activity, by id")
    totals: Usage


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Query:
    """SQL in Athena's dialect with positional ``?`` parameters, bound in order."""

    sql: str
    params: tuple[Param, ...]


# Shared pieces, spliced into the three queries below (never user input: constants only).
_HUMAN = "coalesce(s.bot = false AND s.type <> 'page_request', false)"
_BOT_HIT = f"""CASE
            WHEN s.bot = true THEN coalesce(s.bot_reason, 'unknown')
            WHEN s.type = 'page_request' AND p.session_id IS NULL THEN '{GET_WITHOUT_PLAY}'
        END"""
_PLAYED = """played AS (
    -- Sessions with a human play: a page request in any other session is a bot hit.
    SELECT DISTINCT session_id
    FROM scoped
    WHERE bot = false AND type = 'play' AND session_id IS NOT NULL
)"""
# Seconds watched in one event: the sum of its ranges' lengths (a malformed range counts 0).
_RANGE_SECONDS = (
    "coalesce(reduce(s.ranges, 0e0, "
    "(acc, r) -> acc + greatest(coalesce(element_at(r, 2) - element_at(r, 1), 0e0), 0e0), "
    "acc -> acc), 0e0)"
)
_WINDOW = "dt BETWEEN ? AND ?\n      AND ts >= ? AND ts < ?"

PROSPECT_SQL = f"""
WITH scoped AS (
    SELECT type, ts, session_id, bot, bot_reason, position, duration, quartile, ranges
    FROM {{table}}
    WHERE account_id = ? AND campaign_id = ? AND prospect_id = ?
      AND {_WINDOW}
),
{_PLAYED},
classified AS (
    SELECT
        s.type, s.ts, s.session_id, s.position, s.duration, s.quartile,
        {_HUMAN} AS human,
        {_RANGE_SECONDS} AS range_seconds,
        {_BOT_HIT} AS bot_hit
    FROM scoped AS s
    LEFT JOIN played AS p ON s.session_id = p.session_id
)
SELECT
    CASE WHEN grouping(bot_hit) = 0 THEN 'bot' ELSE 'total' END AS dimension,
    bot_hit AS dimension_value,
    min(CASE WHEN human AND type IN ('play', 'heartbeat', 'quartile', 'ended') THEN ts END)
        AS first_viewed_ms,
    max(CASE WHEN human AND type IN ('play', 'heartbeat', 'quartile', 'ended') THEN ts END)
        AS last_viewed_ms,
    count(DISTINCT CASE WHEN human AND type = 'play' THEN session_id END) AS plays,
    sum(CASE WHEN human AND type IN ('heartbeat', 'ended') THEN range_seconds ELSE 0e0 END) AS watch_seconds,
    max(CASE WHEN human AND type = 'quartile' THEN quartile END) AS max_quartile,
    max(CASE WHEN human AND duration > 0 THEN position / duration * 100 END) AS max_position_percent,
    sum(CASE WHEN human AND type = 'cta_click' THEN 1 ELSE 0 END) AS cta_clicks,
    max(duration) AS duration,
    sum(CASE WHEN bot_hit IS NOT NULL THEN 1 ELSE 0 END) AS bot_hits
FROM classified
GROUP BY GROUPING SETS ((), (bot_hit))
HAVING grouping(bot_hit) = 1 OR bot_hit IS NOT NULL
ORDER BY dimension, dimension_value
"""  # noqa: S608 (constants only: every value is an execution parameter)

HEATMAP_SQL = f"""
WITH scoped AS (
    SELECT type, bot, duration, ranges
    FROM {{table}}
    WHERE account_id = ? AND campaign_id = ? AND prospect_id = ?
      AND {_WINDOW}
),
watched AS (
    SELECT
        greatest(element_at(r, 1), 0e0) AS range_start,
        least(element_at(r, 2), coalesce(s.duration, {MAX_HEATMAP_SECONDS}e0)) AS range_end
    FROM scoped AS s
    CROSS JOIN UNNEST(s.ranges) AS u(r)
    WHERE s.bot = false AND s.type IN ('heartbeat', 'ended')
),
valid AS (
    -- Filtered before the sequence below: sequence(a, b) with b < a is an error in Athena.
    SELECT range_start, range_end FROM watched WHERE range_start < range_end
),
covered AS (
    -- Second i is [i, i+1): a range covers every second it overlaps.
    SELECT at_second
    FROM valid
    CROSS JOIN UNNEST(
        sequence(CAST(floor(range_start) AS bigint), CAST(ceil(range_end) AS bigint) - 1)
    ) AS u(at_second)
)
SELECT at_second, count(*) AS views
FROM covered
GROUP BY at_second
ORDER BY at_second
"""  # noqa: S608 (constants only: every value is an execution parameter)

CAMPAIGN_SQL = f"""
WITH scoped AS (
    SELECT prospect_id, coalesce(variant, 'default') AS variant, type, quartile, session_id, bot,
           bot_reason, ts
    FROM {{table}}
    WHERE account_id = ? AND campaign_id = ?
      AND {_WINDOW}
),
{_PLAYED},
classified AS (
    SELECT
        s.prospect_id, s.variant, s.type, s.quartile,
        date_format(from_unixtime(s.ts / 1e3), '%Y-%m-%d') AS day,
        {_HUMAN} AS human,
        {_BOT_HIT} AS bot_hit
    FROM scoped AS s
    LEFT JOIN played AS p ON s.session_id = p.session_id
)
SELECT
    CASE
        WHEN grouping(variant) = 0 THEN 'variant'
        WHEN grouping(day) = 0 THEN 'day'
        WHEN grouping(bot_hit) = 0 THEN 'bot'
        ELSE 'total'
    END AS dimension,
    coalesce(variant, day, bot_hit) AS dimension_value,
    count(DISTINCT CASE WHEN type = 'sent' THEN prospect_id END) AS sent,
    count(DISTINCT CASE WHEN human AND type = 'page_view' THEN prospect_id END) AS opened,
    count(DISTINCT CASE WHEN human AND type = 'play' THEN prospect_id END) AS played,
    count(DISTINCT CASE WHEN human AND type = 'quartile' AND quartile >= 50 THEN prospect_id END) AS half,
    count(DISTINCT CASE WHEN human AND type = 'quartile' AND quartile = 100 THEN prospect_id END)
        AS completed,
    count(DISTINCT CASE WHEN human AND type = 'cta_click' THEN prospect_id END) AS cta,
    sum(CASE WHEN bot_hit IS NOT NULL THEN 1 ELSE 0 END) AS bot_hits
FROM classified
GROUP BY GROUPING SETS ((), (variant), (day), (bot_hit))
HAVING grouping(bot_hit) = 1 OR bot_hit IS NOT NULL
ORDER BY dimension, dimension_value
"""  # noqa: S608 (constants only: every value is an execution parameter)

ACCOUNT_SQL = f"""
WITH scoped AS (
    SELECT campaign_id, prospect_id, type, quartile, session_id, bot, bot_reason, ranges, ts
    FROM {{table}}
    WHERE account_id = ?
      AND {_WINDOW}
),
{_PLAYED},
classified AS (
    SELECT
        s.campaign_id, s.prospect_id, s.type, s.quartile, s.session_id,
        date_format(from_unixtime(s.ts / 1e3), '%Y-%m') AS month,
        {_HUMAN} AS human,
        {_RANGE_SECONDS} AS range_seconds,
        {_BOT_HIT} AS bot_hit
    FROM scoped AS s
    LEFT JOIN played AS p ON s.session_id = p.session_id
)
SELECT
    CASE
        WHEN grouping(month) = 0 THEN 'month'
        WHEN grouping(campaign_id) = 0 THEN 'campaign'
        ELSE 'total'
    END AS dimension,
    coalesce(month, campaign_id) AS dimension_value,
    count(DISTINCT CASE WHEN type = 'sent' THEN prospect_id END) AS sent,
    count(DISTINCT CASE WHEN human AND type = 'page_view' THEN prospect_id END) AS opened,
    count(DISTINCT CASE WHEN human AND type = 'play' THEN session_id END) AS plays,
    sum(CASE WHEN human AND type IN ('heartbeat', 'ended') THEN range_seconds ELSE 0e0 END) AS watch_seconds,
    count(DISTINCT CASE WHEN human AND type = 'quartile' AND quartile = 100 THEN prospect_id END)
        AS completed,
    sum(CASE WHEN human AND type = 'cta_click' THEN 1 ELSE 0 END) AS cta_clicks,
    sum(CASE WHEN bot_hit IS NOT NULL THEN 1 ELSE 0 END) AS bot_hits
FROM classified
GROUP BY GROUPING SETS ((), (month), (campaign_id))
ORDER BY dimension, dimension_value
"""  # noqa: S608 (constants only: every value is an execution parameter)


def _table(name: str) -> str:
    """The table as a quoted identifier. Identifiers cannot be parameters, so the name is checked
    against what Glue allows (lower case letters, digits, underscores) before it goes in."""
    if not _TABLE_NAME.fullmatch(name):
        raise ValueError(f"not a Glue table name: {name!r}")
    return f'"{name}"'


def _window_params(since: date, until: date) -> tuple[Param, ...]:
    """``dt`` bounds (a day of slack each side) then the exact ``ts`` bounds, epoch ms."""
    if since > until:
        raise InvalidInputError(
            "the window is empty", [FieldIssue("query.since", "must be on or before until")]
        )
    start = datetime.combine(since, time(), tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC)
    return (
        (since - timedelta(days=1)).isoformat(),
        (until + timedelta(days=1)).isoformat(),
        int(start.timestamp() * 1000),
        int(end.timestamp() * 1000),
    )


def prospect_queries(
    table: str, account_id: str, campaign_id: str, prospect_id: str, since: date, until: date
) -> tuple[Query, Query]:
    """The prospect's summary (with bot hits by reason) and its heatmap.

    Raises
    ------
    InvalidInputError
        ``since`` is after ``until``.
    """
    params = (account_id, campaign_id, prospect_id, *_window_params(since, until))
    return (
        Query(PROSPECT_SQL.format(table=_table(table)), params),
        Query(HEATMAP_SQL.format(table=_table(table)), params),
    )


def campaign_query(table: str, account_id: str, campaign_id: str, since: date, until: date) -> Query:
    """Funnel, per variant, per day and bot hits by reason, in one scan.

    Raises
    ------
    InvalidInputError
        ``since`` is after ``until``.
    """
    return Query(
        CAMPAIGN_SQL.format(table=_table(table)), (account_id, campaign_id, *_window_params(since, until))
    )


def account_query(table: str, account_id: str, since: date, until: date) -> Query:
    """Per month, per campaign and in total, in one scan.

    Raises
    ------
    InvalidInputError
        ``since`` is after ``until``.
    """
    return Query(ACCOUNT_SQL.format(table=_table(table)), (account_id, *_window_params(since, until)))


# --------------------------------------------------------------------------- rows -> answers


def _int(row: Row, column: str) -> int:
    value = row.get(column)
    try:
        return int(float(value)) if value not in (None, "") else 0
    except ValueError as exc:
        raise StorageError(f"analytics column {column} is not a number: {value!r}") from exc


def _float(row: Row, column: str) -> float | None:
    value = row.get(column)
    try:
        return float(value) if value not in (None, "") else None
    except ValueError as exc:
        raise StorageError(f"analytics column {column} is not a number: {value!r}") from exc


def _ms(row: Row, column: str) -> datetime | None:
    value = _float(row, column)
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _bots(rows: Sequence[Row]) -> BotHits:
    by_reason = {str(r["dimension_value"]): _int(r, "bot_hits") for r in rows if r.get("dimension") == "bot"}
    return BotHits(total=sum(by_reason.values()), by_reason=dict(sorted(by_reason.items())))


def _total(rows: Sequence[Row]) -> Row:
    return next((r for r in rows if r.get("dimension") == "total"), {})


def prospect_engagement(
    summary: Sequence[Row],
    heatmap: Sequence[Row],
    *,
    account_id: str,
    campaign_id: str,
    prospect_id: str,
    since: date,
    until: date,
) -> ProspectEngagement:
    """The answer from the rows of :func:`prospect_queries`' two queries.

    Raises
    ------
    StorageError
        A value is not what the query produces (the result was not this query's).
    """
    total = _total(summary)
    duration = _float(total, "duration")
    views = {_int(r, "at_second"): _int(r, "views") for r in heatmap}
    if duration is not None and duration > 0:
        length = min(math.ceil(duration), MAX_HEATMAP_SECONDS)
    else:
        length = max(views, default=-1) + 1
    reached = max(float(_int(total, "max_quartile")), _float(total, "max_position_percent") or 0.0)
    return ProspectEngagement(
        account_id=account_id,
        campaign_id=campaign_id,
        prospect_id=prospect_id,
        since=since,
        until=until,
        first_viewed_at=_ms(total, "first_viewed_ms"),
        last_viewed_at=_ms(total, "last_viewed_ms"),
        plays=_int(total, "plays"),
        watch_seconds=round(_float(total, "watch_seconds") or 0.0, 3),
        max_percent=round(min(max(reached, 0.0), 100.0), 2),
        cta_clicks=_int(total, "cta_clicks"),
        duration=duration,
        heatmap=[views.get(i, 0) for i in range(length)],
        bot_hits=_bots(summary),
    )


def _funnel_fields(row: Row) -> dict[str, int | float]:
    counts = {k: _int(row, k) for k in ("sent", "opened", "played", "half", "completed", "cta")}
    return {
        **counts,
        "completion_rate": _rate(counts["completed"], counts["played"]),
        "cta_rate": _rate(counts["cta"], counts["opened"]),
    }


def campaign_engagement(
    rows: Sequence[Row], *, account_id: str, campaign_id: str, since: date, until: date
) -> CampaignEngagement:
    """The answer from the rows of :func:`campaign_query`; days without events are zeros.

    Raises
    ------
    StorageError
        A value is not what the query produces.
    """
    days = {
        str(r["dimension_value"]): DayEngagement(
            day=date.fromisoformat(str(r["dimension_value"])),
            **{k: _int(r, k) for k in ("opened", "played", "completed", "cta")},
        )
        for r in rows
        if r.get("dimension") == "day"
    }
    span = (until - since).days + 1
    by_day = [
        days.get(d.isoformat(), DayEngagement(day=d))
        for d in (since + timedelta(days=i) for i in range(span))
    ]
    return CampaignEngagement(
        account_id=account_id,
        campaign_id=campaign_id,
        since=since,
        until=until,
        funnel=Funnel(**_funnel_fields(_total(rows))),
        by_variant=[
            VariantFunnel(variant=str(r["dimension_value"]), **_funnel_fields(r))
            for r in rows
            if r.get("dimension") == "variant"
        ],
        by_day=by_day,
        bots=_bots(rows),
    )


def _usage_fields(row: Row) -> dict[str, int | float]:
    out: dict[str, int | float] = {
        k: _int(row, k) for k in ("sent", "opened", "plays", "completed", "cta_clicks", "bot_hits")
    }
    out["watch_seconds"] = round(_float(row, "watch_seconds") or 0.0, 3)
    return out


def account_engagement(
    rows: Sequence[Row], *, account_id: str, since: date, until: date
) -> AccountEngagement:
    """The answer from the rows of :func:`account_query`.

    Raises
    ------
    StorageError
        A value is not what the query produces.
    """
    return AccountEngagement(
        account_id=account_id,
        since=since,
        until=until,
        by_month=[
            MonthUsage(month=str(r["dimension_value"]), **_usage_fields(r))
            for r in rows
            if r.get("dimension") == "month"
        ],
        by_campaign=[
            CampaignUsage(campaign_id=str(r["dimension_value"]), **_usage_fields(r))
            for r in rows
            if r.get("dimension") == "campaign"
        ],
        totals=Usage(**_usage_fields(_total(rows))),
    )
