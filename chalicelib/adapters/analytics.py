"""Engagement events into Firehose, analytics out of Athena, through boto3.

The endpoints come from ``AWS_ENDPOINT_URL_FIREHOSE`` / ``AWS_ENDPOINT_URL_ATHENA`` locally (the
stand-ins in ``devstack/``) and from botocore's regional endpoints in AWS; nothing else differs.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from chalicelib.adapters.aws_errors import (
    AWS_ERRORS,
    RETRY_AFTER,
    THROTTLING_CODES,
    AwsFault,
    translate_aws_errors,
)
from chalicelib.domain import analytics
from chalicelib.domain.analytics import (
    AccountEngagement,
    CampaignEngagement,
    ProspectEngagement,
    Query,
    Row,
)
from chalicelib.domain.errors import StorageError

logger = logging.getLogger(__name__)
#: How much longer each wait for a running Athena query is than the one before.
POLL_GROWTH = 1.25

#: Firehose's PutRecordBatch limits (they cannot be raised).
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1_000 * 1024
#: Firehose's answers that a resend of the same batch, after a pause, may get through.
_RESEND_CODES = THROTTLING_CODES | {"ServiceUnavailableException"}


class FirehoseEventSink:
    """:class:`~chalicelib.domain.ports.EventSink` on a Firehose delivery stream.

    Each event is one JSON line (the S3 objects are JSON lines, as the events table reads them).
    A batch whose records partly fail (Firehose throttles record by record) has only the failed
    records sent again, with exponential backoff and jitter, up to ``attempts`` times in all.
    """

    def __init__(
        self,
        client: Any,
        stream_name: str,
        *,
        attempts: int = 4,
        backoff_seconds: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._firehose = client
        self._stream = stream_name
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def put(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Send the events, in as few calls as Firehose's limits allow.

        Raises
        ------
        StorageError
            An event cannot be encoded or is over Firehose's record limit, or some events were
            still refused after the retries (the message says how many and why).
        """
        records = [self._encode(event) for event in events]
        for chunk in _chunks(records):
            self._put_chunk(chunk)

    @staticmethod
    def _encode(event: Mapping[str, Any]) -> bytes:
        try:
            line = json.dumps(event, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        except (TypeError, ValueError) as exc:
            raise StorageError(f"an engagement event could not be encoded as JSON: {exc}") from exc
        if len(line) > MAX_RECORD_BYTES:
            raise StorageError(f"an engagement event is {len(line)} bytes, over Firehose's record limit")
        return line

    def _put_chunk(self, records: list[bytes]) -> None:
        pending, reasons = records, ""
        for attempt in range(self._attempts):
            if attempt:
                # Full jitter: retries from many Lambdas must not arrive together.
                self._sleep(random.uniform(0, self._backoff * 2**attempt))  # noqa: S311 (jitter)
            with translate_aws_errors(
                "firehose.put_record_batch",
                lambda fault: f"Firehose refused the events: {fault.detail}",
                tolerate=_RESEND_CODES,
                unreachable=_unreachable("Firehose", lambda f: f"Firehose refused the events: {f.detail}"),
            ) as call:
                response = self._firehose.put_record_batch(
                    DeliveryStreamName=self._stream, Records=[{"Data": r} for r in pending]
                )
            if call.tolerated:
                reasons = f"{call.tolerated.code}: {call.tolerated.message or None}"
                logger.warning("Firehose throttled a batch of %d events", len(pending))
                continue
            if not response.get("FailedPutCount"):
                return
            results = response["RequestResponses"]
            failed = [(r, res) for r, res in zip(pending, results, strict=True) if res.get("ErrorCode")]
            pending = [r for r, _ in failed]
            reasons = ", ".join(
                sorted({f"{res['ErrorCode']}: {res.get('ErrorMessage')}" for _, res in failed})
            )
            logger.warning("Firehose refused %d of %d events; retrying those", len(pending), len(results))
        raise StorageError(  # throttled or failing record by record: a later call may get through
            f"{len(pending)} engagement event(s) could not be stored "
            f"after {self._attempts} attempts ({reasons})",
            retry_after=RETRY_AFTER["throttled"],
        )


def _chunks(records: list[bytes]) -> Iterator[list[bytes]]:
    """Runs of records within PutRecordBatch's count and size limits."""
    chunk: list[bytes] = []
    size = 0
    for record in records:
        if chunk and (len(chunk) == MAX_BATCH_RECORDS or size + len(record) > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += len(record)
    if chunk:
        yield chunk


class AthenaAnalytics:
    """:class:`~chalicelib.domain.ports.AnalyticsQueries` on Athena.

    A query starts with its values as execution parameters (string literals quoted, so no value
    can become SQL), is polled with a short, growing interval (Athena answers in about a second;
    polling stays cheap) and its rows are read page by page. Queries that make one answer run
    concurrently.
    """

    def __init__(
        self,
        client: Any,
        *,
        database: str,
        table: str,
        workgroup: str,
        timeout_seconds: float = 60.0,
        first_poll_seconds: float = 0.02,
        max_poll_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._athena = client
        self._database, self._table, self._workgroup = database, table, workgroup
        self._timeout = timeout_seconds
        self._first_poll, self._max_poll = first_poll_seconds, max_poll_seconds
        self._sleep, self._clock = sleep, clock

    def prospect(
        self, account_id: str, campaign_id: str, prospect_id: str, since: date, until: date
    ) -> ProspectEngagement:
        """The prospect's engagement; see :func:`chalicelib.domain.analytics.prospect_queries`.

        Raises
        ------
        StorageError
            A query failed, was cancelled or took longer than the timeout.
        """
        summary, heatmap = self._run_all(
            analytics.prospect_queries(self._table, account_id, campaign_id, prospect_id, since, until)
        )
        return analytics.prospect_engagement(
            summary,
            heatmap,
            account_id=account_id,
            campaign_id=campaign_id,
            prospect_id=prospect_id,
            since=since,
            until=until,
        )

    def campaign(self, account_id: str, campaign_id: str, since: date, until: date) -> CampaignEngagement:
        """The campaign's funnel, variants, days and bot hits.

        Raises
        ------
        StorageError
            The query failed, was cancelled or took longer than the timeout.
        """
        (rows,) = self._run_all(
            [analytics.campaign_query(self._table, account_id, campaign_id, since, until)]
        )
        return analytics.campaign_engagement(
            rows, account_id=account_id, campaign_id=campaign_id, since=since, until=until
        )

    def account(self, account_id: str, since: date, until: date) -> AccountEngagement:
        """The account's months and campaigns.

        Raises
        ------
        StorageError
            The query failed, was cancelled or took longer than the timeout.
        """
        (rows,) = self._run_all([analytics.account_query(self._table, account_id, since, until)])
        return analytics.account_engagement(rows, account_id=account_id, since=since, until=until)

    # running queries

    def _run_all(self, queries: Sequence[Query]) -> list[list[Row]]:
        ids = [self._start(q) for q in queries]
        if len(ids) == 1:
            return [self._rows(self._wait(ids[0]))]
        with ThreadPoolExecutor(len(ids)) as pool:
            return list(pool.map(lambda qid: self._rows(self._wait(qid)), ids))

    def _start(self, query: Query) -> str:
        with translate_aws_errors(
            "athena.start_query_execution",
            lambda fault: f"Athena refused the query: {fault.detail}",
            throttled=lambda fault: f"Athena is throttling queries: {fault.message or None}",
            unreachable=_unreachable("Athena", lambda fault: f"Athena refused the query: {fault.detail}"),
        ):
            started = self._athena.start_query_execution(
                QueryString=query.sql,
                QueryExecutionContext={"Database": self._database},
                WorkGroup=self._workgroup,
                ExecutionParameters=[athena_parameter(p) for p in query.params],
            )
        query_id: str = started["QueryExecutionId"]
        return query_id

    def _wait(self, query_id: str) -> str:
        deadline = self._clock() + self._timeout
        interval = self._first_poll
        while True:
            with translate_aws_errors("athena.get_query_execution", "Athena could not report the query"):
                status = self._athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"][
                    "Status"
                ]
            state = status["State"]
            if state == "SUCCEEDED":
                return query_id
            if state in ("FAILED", "CANCELLED"):
                reason = status.get("StateChangeReason") or state
                logger.error("analytics query %s %s: %s", query_id, state.lower(), reason)
                raise StorageError(f"the analytics query {state.lower()}: {reason}")
            if self._clock() >= deadline:
                try:  # best effort: the timeout is what the caller hears about
                    self._athena.stop_query_execution(QueryExecutionId=query_id)
                except AWS_ERRORS:
                    logger.warning("could not stop analytics query %s", query_id)
                raise StorageError(f"the analytics query took more than {self._timeout:.0f} s")
            self._sleep(interval)
            # Seen at most ~25 % after it finished: about 17 polls for a 1 s query (the calls cost
            # nothing; Athena's GetQueryExecution quota is far above one caller's pace).
            interval = min(interval * POLL_GROWTH, self._max_poll)

    def _rows(self, query_id: str) -> list[Row]:
        rows: list[Row] = []
        names: list[str] | None = None
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": 1000}
            if token:
                kwargs["NextToken"] = token
            with translate_aws_errors(
                "athena.get_query_results", "Athena could not return the query's results"
            ):
                page = self._athena.get_query_results(**kwargs)
            data = page["ResultSet"]["Rows"]
            if names is None:
                names = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
                data = data[1:]  # the first row of the first page holds the column names
            for row in data:
                rows.append({n: cell.get("VarCharValue") for n, cell in zip(names, row["Data"], strict=True)})
            token = page.get("NextToken")
            if not token:
                return rows


def _unreachable(service: str, answered: Callable[[AwsFault], str]) -> Callable[[AwsFault], str]:
    """A transient fault's message: the service answering (a 5xx), or not reached at all."""
    return lambda fault: answered(fault) if fault.status is not None else f"{service} could not be reached"


def athena_parameter(value: str | int) -> str:
    """An execution parameter as Athena takes it: a string as a quoted literal (a quote inside is
    doubled, so the value stays one literal whatever it holds), a number as is."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"unsupported parameter type {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"
