"""A local stand-in for AWS Elemental MediaConvert's HTTP API (REST-JSON, version 2017-08-29).

boto3's ``mediaconvert`` client talks to it through ``endpoint_url``. It serves DescribeEndpoints,
CreateJob, GetJob, ListJobs and CancelJob; routing, request parsing, validation and responses are
driven by botocore's service model. Jobs live in memory and run on a bounded worker pool through an
injected :class:`JobExecutor`, which does the actual transcoding. Every status change is delivered,
in order and from one thread, as the EventBridge "MediaConvert Job State Change" event.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import logging
import queue
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import botocore.session
from botocore.model import OperationModel, StructureShape
from botocore.validate import ParamValidator
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from devstack.mediaconvert import wire

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

SUPPORTED_OPERATIONS = ("DescribeEndpoints", "CreateJob", "GetJob", "ListJobs", "CancelJob")
TERMINAL = frozenset({"COMPLETE", "ERROR", "CANCELED"})
CANCELABLE = frozenset({"SUBMITTED", "PROGRESSING"})
PHASES = ("PROBING", "TRANSCODING", "UPLOADING")
INTERNAL_ERROR_CODE = 1999  # what the stand-in reports when an executor fails unexpectedly
STATUS_UPDATE_STEP = 10  # percentage points between two STATUS_UPDATE events
#: MediaConvert sends a running job's STATUS_UPDATE about once a minute; the stand-in's jobs are
#: shorter, so it sends one at most every this many seconds (a job of a few segments, none).
STATUS_UPDATE_SECONDS = 2.0
DEFAULT_PAGE_SIZE = 20
_ID_ALPHABET = string.ascii_lowercase + string.digits


class UnsupportedSettingsError(Exception):
    """Raised by :meth:`JobExecutor.validate` for settings it cannot honour; answered with a 400."""


class JobError(Exception):
    """Raised by :meth:`JobExecutor.run` to fail the job with a MediaConvert error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class JobContext:
    """What an executor gets for one job. ``settings`` is API-shaped (``OutputGroups`` …)."""

    job_id: str
    settings: dict[str, Any]
    user_metadata: dict[str, str]
    progress: Callable[[int, str], None]  # (percent, phase in PROBING/TRANSCODING/UPLOADING)
    cancelled: Callable[[], bool]


class JobExecutor(Protocol):
    """Does the transcoding. ``run`` returns the job's ``OutputGroupDetails`` (API-shaped).

    Each group may also carry ``Type`` (``"CMAF_GROUP"`` …) and ``PlaylistFilePaths``, and each of
    its ``OutputDetails`` ``OutputFilePaths``: the COMPLETE event reports them, GetJob does not.
    """

    def validate(self, settings: dict[str, Any]) -> None: ...

    def run(self, job: JobContext) -> list[dict[str, Any]]: ...


@dataclass
class Fault:
    """An injected fault, for tests of what callers do when MediaConvert misbehaves.

    ``throttle``: CreateJob answers 429 TooManyRequestsException (``times`` times, or forever
    when ``times`` is None); ``error``: the job is accepted and then ends in ERROR with
    ``code`` and ``message``, as a real transcode failure does.
    """

    match: dict[str, str]  # UserMetadata entries a job must carry to be affected
    kind: str  # "throttle" | "error"
    times: int | None = None
    code: int = 1040
    message: str = "injected failure: the input could not be transcoded"
    hits: int = 0

    def applies(self, metadata: dict[str, str]) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return all(metadata.get(k) == v for k, v in self.match.items())


class ApiError(Exception):
    """An error answer in MediaConvert's form: status, ``x-amzn-ErrorType``, ``{"message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequestException", message)


@dataclass
class _Job:
    seq: int
    record: dict[str, Any]  # the API-shaped Job
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future[None] | None = None
    reported_percent: int = 0
    reported_at: float = 0.0  # time.monotonic() of the last PROGRESSING/STATUS_UPDATE event
    settled: bool = False  # terminal, and its last event delivered


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug(message, *args)


class MediaConvertStandIn:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(
        self,
        executor: JobExecutor,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        *,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 2,
        status_update_seconds: float = STATUS_UPDATE_SECONDS,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the MediaConvert stand-in serves loopback only, not {host}")
        self.region, self.account_id = region, account_id
        self._executor, self._on_event = executor, on_event
        self._host, self._port, self._workers = host, port, workers
        self._status_update_seconds = status_update_seconds
        self._model = botocore.session.get_session().get_service_model("mediaconvert")
        self._routes = [_route(self._model.operation_model(name)) for name in self._model.operation_names]
        job_shape = self._model.shape_for("Job")
        assert isinstance(job_shape, StructureShape)
        self._job_members = job_shape.members
        self._details_shape = self._job_members["OutputGroupDetails"]
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._tokens: dict[str, str] = {}
        self.faults: list[Fault] = []
        self._seq = 0
        self._events: queue.Queue[tuple[_Job, dict[str, Any]] | None] = queue.Queue()
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None

    # lifecycle

    def start(self) -> None:
        """Serve on a background thread; start the worker pool and the event delivery thread."""
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="mediaconvert-job")
        self._server = make_server(
            self._host, self._port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        for target, name in (
            (self._deliver, "mediaconvert-events"),
            (partial(self._server.serve_forever, poll_interval=0.05), "mediaconvert-api"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the MediaConvert stand-in is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._server.server_port}"

    def stop(self, drain: bool = True) -> None:
        """Stop serving. ``drain`` lets queued and running jobs finish; otherwise they are canceled."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if not drain:
            with self._lock:
                for job in self._jobs.values():
                    if job.record["Status"] in CANCELABLE:
                        self._cancel(job)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=not drain)
        self._events.put(None)
        for thread in self._threads:
            thread.join()
        self._server, self._pool, self._threads = None, None, []

    def __enter__(self) -> MediaConvertStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        """Block until the job is terminal and its last event delivered; return the Job (API-shaped).

        Raises KeyError for an unknown job and TimeoutError when ``timeout`` seconds pass first.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            job = self._jobs[job_id]
            while not job.settled:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"job {job_id} is still {job.record['Status']} after {timeout}s")
                self._changed.wait(remaining)
            return copy.deepcopy(job.record)

    # HTTP

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            status, payload = self._dispatch(request)
            response = Response(json.dumps(payload), status=status, content_type="application/json")
        except ApiError as exc:
            response = _error_response(exc)
        except Exception:
            logger.exception("MediaConvert stand-in: %s %s failed", request.method, request.path)
            response = _error_response(ApiError(500, "InternalServerErrorException", "internal error"))
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> tuple[int, Any]:
        op, uri = self._match(request.method, request.path)
        if op.name not in SUPPORTED_OPERATIONS:
            raise _bad_request(
                f"{op.name} is not supported by the local MediaConvert stand-in "
                f"(supported: {', '.join(SUPPORTED_OPERATIONS)})"
            )
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError as exc:
            raise _bad_request(f"request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _bad_request("request body must be a JSON object")
        params, unknown = wire.parse_request(op, uri, request.args.to_dict(flat=False), body)
        if unknown:
            raise _bad_request(f"Unknown parameter(s) in {op.name}: {', '.join(unknown)}")
        if op.input_shape is not None:
            report = ParamValidator().validate(params, op.input_shape)
            if report.has_errors():
                raise _bad_request(report.generate_report())
            if problems := wire.check_constraints(op.input_shape, params):
                raise _bad_request("\n".join(problems))
        handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "DescribeEndpoints": lambda _: {"Endpoints": [{"Url": self.url}]},
            "CreateJob": self._create_job,
            "GetJob": self._get_job,
            "ListJobs": self._list_jobs,
            "CancelJob": self._cancel_job,
        }
        result = handlers[op.name](params)
        return op.http["responseCode"], wire.to_wire(op.output_shape, result) if op.output_shape else {}

    def _match(self, method: str, path: str) -> tuple[OperationModel, dict[str, str]]:
        for op_method, pattern, op in self._routes:
            if op_method == method and (found := pattern.fullmatch(path)):
                return op, found.groupdict()
        raise ApiError(404, "NotFoundException", f"no MediaConvert operation matches {method} {path}")

    # operations

    def _create_job(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("JobTemplate"):
            raise _bad_request("JobTemplate is not supported by the local MediaConvert stand-in")
        try:
            self._executor.validate(copy.deepcopy(params["Settings"]))
        except UnsupportedSettingsError as exc:
            raise _bad_request(str(exc)) from exc
        now = _now()
        with self._lock:
            token = params.get("ClientRequestToken")
            if token and token in self._tokens:
                return {"Job": copy.deepcopy(self._jobs[self._tokens[token]].record)}
            if fault := self._fault("throttle", params.get("UserMetadata", {})):
                raise ApiError(429, "TooManyRequestsException", f"Too Many Requests ({fault.message})")
            suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))
            job_id = f"{time.time_ns() // 1_000_000}-{suffix}"
            echoed = {k: v for k, v in params.items() if k in self._job_members}
            record = {
                **copy.deepcopy(echoed),
                "Id": job_id,
                "Arn": f"{self._arn_prefix}:jobs/{job_id}",
                "Queue": self._queue_arn(params.get("Queue")),
                "UserMetadata": dict(params.get("UserMetadata", {})),
                "Status": "SUBMITTED",
                "CreatedAt": now,
                "Timing": {"SubmitTime": now},
            }
            self._seq += 1
            job = self._jobs[job_id] = _Job(self._seq, record)
            if token:
                self._tokens[token] = job_id
            self._emit(job, "SUBMITTED")
            assert self._pool is not None
            job.future = self._pool.submit(self._execute, job)
            return {"Job": copy.deepcopy(record)}

    def _list_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        ascending = params.get("Order", "DESCENDING") == "ASCENDING"
        limit = params.get("MaxResults", DEFAULT_PAGE_SIZE)
        after = _decode_token(params["NextToken"]) if params.get("NextToken") else None
        queue_arn = self._queue_arn(params["Queue"]) if params.get("Queue") else None
        with self._lock:
            jobs = [
                j
                for j in sorted(self._jobs.values(), key=lambda j: j.seq, reverse=not ascending)
                if params.get("Status") in (None, j.record["Status"])
                and queue_arn in (None, j.record["Queue"])
                and (after is None or (j.seq > after if ascending else j.seq < after))
            ]
            result: dict[str, Any] = {"Jobs": [copy.deepcopy(j.record) for j in jobs[:limit]]}
        if len(jobs) > limit:
            result["NextToken"] = base64.urlsafe_b64encode(str(jobs[limit - 1].seq).encode()).decode()
        return result

    def _cancel_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            job = self._job(params["Id"])
            if job.record["Status"] not in CANCELABLE:
                raise ApiError(
                    409,
                    "ConflictException",
                    f"job {job.record['Id']} is {job.record['Status']} and cannot be canceled",
                )
            self._cancel(job)
        return {}

    def _get_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"Job": copy.deepcopy(self._job(params["Id"]).record)}

    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "NotFoundException", f"job {job_id} not found")
        return job

    def _cancel(self, job: _Job) -> None:
        """Under the lock: the job is CANCELED now; a queued one never runs, a running one is told."""
        job.cancel.set()
        if job.future is not None:
            job.future.cancel()
        job.record["Status"] = "CANCELED"
        job.record["Timing"]["FinishTime"] = _now()
        self._emit(job, "CANCELED")

    # execution

    def inject(self, fault: Fault) -> Fault:
        """Add a fault (tests); remove it from :attr:`faults` to heal."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def _fault(self, kind: str, metadata: dict[str, str]) -> Fault | None:
        """The first matching fault of ``kind``, counted as hit (under the lock)."""
        for fault in self.faults:
            if fault.kind == kind and fault.applies(metadata):
                fault.hits += 1
                return fault
        return None

    def _execute(self, job: _Job) -> None:
        with self._lock:
            if job.record["Status"] != "SUBMITTED":
                return
            job.record.update(Status="PROGRESSING", CurrentPhase="PROBING", JobPercentComplete=0)
            job.record["Timing"]["StartTime"] = _now()
            self._emit(job, "PROGRESSING")
            job.reported_at = time.monotonic()
            context = JobContext(
                job_id=job.record["Id"],
                settings=copy.deepcopy(job.record["Settings"]),
                user_metadata=dict(job.record["UserMetadata"]),
                progress=lambda percent, phase: self._progress(job, percent, phase),
                cancelled=job.cancel.is_set,
            )
        with self._lock:
            injected = self._fault("error", context.user_metadata)
        try:
            if injected is not None:
                raise JobError(injected.code, injected.message)
            raw = self._executor.run(context)
            details = self._check_details(raw)
        except JobError as exc:
            self._finish(job, "ERROR", {"ErrorCode": exc.code, "ErrorMessage": exc.message})
        except Exception as exc:
            logger.exception("MediaConvert job %s: executor failed", job.record["Id"])
            message = str(exc) or type(exc).__name__
            self._finish(job, "ERROR", {"ErrorCode": INTERNAL_ERROR_CODE, "ErrorMessage": message})
        else:
            self._finish(job, "COMPLETE", {"OutputGroupDetails": details, "JobPercentComplete": 100}, raw)

    def _check_details(self, raw: Any) -> list[dict[str, Any]]:
        """The executor's OutputGroupDetails, reduced to the Job shape's members and type-checked."""
        if not isinstance(raw, list) or not all(isinstance(group, dict) for group in raw):
            raise TypeError(f"executor returned {type(raw).__name__}, not a list of OutputGroupDetail dicts")
        details: list[dict[str, Any]] = wire.from_wire(
            self._details_shape, wire.to_wire(self._details_shape, raw)
        )
        # ParamValidator validates any shape, a list included; its stubs say Mapping.
        report = ParamValidator().validate(details, self._details_shape)  # type: ignore[arg-type]
        if report.has_errors():
            raise TypeError(f"executor returned invalid OutputGroupDetails: {report.generate_report()}")
        return details

    def _progress(self, job: _Job, percent: int, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
        percent = max(0, min(100, int(percent)))
        with self._lock:
            if job.record["Status"] != "PROGRESSING":
                return
            job.record.update(JobPercentComplete=percent, CurrentPhase=phase)
            now = time.monotonic()
            if (
                percent - job.reported_percent >= STATUS_UPDATE_STEP
                and now - job.reported_at >= self._status_update_seconds
            ):
                job.reported_percent, job.reported_at = percent, now
                progress = {"jobPercentComplete": percent, "currentPhase": phase, "retryCount": 0}
                self._emit(job, "STATUS_UPDATE", {"framesDecoded": 0, "jobProgress": progress})

    def _finish(self, job: _Job, status: str, fields: dict[str, Any], raw: Any = None) -> None:
        with self._lock:
            if job.record["Status"] != "PROGRESSING":  # canceled while running: the result is dropped
                logger.info("MediaConvert job %s: %s after cancel, ignored", job.record["Id"], status)
                return
            job.record.update(fields, Status=status)
            job.record["Timing"]["FinishTime"] = _now()
            if status == "COMPLETE":
                self._emit(job, status, {"outputGroupDetails": _event_case(raw)})
            else:
                self._emit(
                    job, status, {"errorCode": fields["ErrorCode"], "errorMessage": fields["ErrorMessage"]}
                )

    # events

    def _emit(self, job: _Job, status: str, extra: dict[str, Any] | None = None) -> None:
        """Under the lock, so that a job's events queue in the order of its status changes."""
        now, record = datetime.now(UTC), job.record
        detail = {
            "timestamp": int(now.timestamp() * 1000),
            "accountId": self.account_id,
            "queue": record["Queue"],
            "jobId": record["Id"],
            "status": status,
            "userMetadata": dict(record["UserMetadata"]),
            **(extra or {}),
        }
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "MediaConvert Job State Change",
            "source": "aws.mediaconvert",
            "account": self.account_id,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [record["Arn"]],
            "detail": detail,
        }
        self._events.put((job, event))

    def _deliver(self) -> None:
        while (item := self._events.get()) is not None:
            job, event = item
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception:
                    logger.exception(
                        "MediaConvert stand-in: on_event failed for %s", event["detail"]["status"]
                    )
            if event["detail"]["status"] in TERMINAL:
                with self._changed:
                    job.settled = True
                    self._changed.notify_all()

    # naming

    @property
    def _arn_prefix(self) -> str:
        return f"arn:aws:mediaconvert:{self.region}:{self.account_id}"

    def _queue_arn(self, queue_name: str | None) -> str:
        """A queue's ARN from its name or ARN; the Default queue when none is given."""
        if not queue_name:
            return f"{self._arn_prefix}:queues/Default"
        return queue_name if queue_name.startswith("arn:") else f"{self._arn_prefix}:queues/{queue_name}"


def _route(op: OperationModel) -> tuple[str, re.Pattern[str], OperationModel]:
    """(method, path pattern with one named group per URI label, operation)."""
    path = op.http["requestUri"].split("?")[0]
    parts = re.split(r"(\{[^}]+\})", path)
    regex = "".join(f"(?P<{p[1:-1].rstrip('+')}>.+)" if p.startswith("{") else re.escape(p) for p in parts)
    return op.http["method"], re.compile(regex), op


def _error_response(exc: ApiError) -> Response:
    response = Response(
        json.dumps({"message": exc.message}), status=exc.status, content_type="application/json"
    )
    response.headers["x-amzn-ErrorType"] = exc.code
    return response


def _decode_token(token: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError included
        raise _bad_request(f"invalid NextToken {token!r}") from exc


def _event_case(value: Any) -> Any:
    """API member names → the event's camelCase (``OutputFilePaths`` → ``outputFilePaths``)."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _event_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_event_case(v) for v in value]
    return value


def _now() -> datetime:
    """Now, in whole seconds: the precision of the API's timestamps."""
    return datetime.now(UTC).replace(microsecond=0)


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
