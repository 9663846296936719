"""Run the Chalice app's Lambda handlers when moto invokes a function.

moto would start a Docker container per invocation; there is no Docker here, and the handlers
are already importable. We patch two private moto hooks (moto is pinned for that reason):

* ``LambdaFunction._invoke_lambda`` — synchronous invokes (Step Functions tasks, the Invoke API);
* ``moto.s3.notifications._invoke_awslambda`` — S3 event notifications, which AWS delivers
  asynchronously: they go to a thread pool, with AWS's two retries for async invokes.

Where each invocation runs: a function registered with a :class:`HandlerRef` (what the stack
registers: the app's functions and the voice function) runs in a pool of **worker processes**,
one invocation at a time each, as Lambda runs one event per execution environment; so the
handlers' Python work is spread over every core instead of sharing the stack's GIL. A worker
imports the function's code once and stays warm, like a Lambda execution environment. The
function configuration (the ``TAILORCAST_``, ``AWS_`` and ``POWERTOOLS_`` variables) travels with
each invocation: when it changes (a test changing a setting), the worker takes the new values and
rebuilds the app's adapters, as Lambda starts new environments after a configuration update.
Handlers without a reference (tests registering a closure) run on the calling thread, as before.
Faults are injected here, before the invocation leaves the stack's process.
"""

from __future__ import annotations

import importlib
import json
import logging
import multiprocessing
import os
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("devstack.lambdas")

ASYNC_RETRIES = 2  # AWS retries a failed asynchronous invocation twice
RETRY_DELAY_SECONDS = 0.5
#: The function configuration a worker process takes from the stack with each invocation.
CONFIGURATION_PREFIXES = ("TAILORCAST_", "AWS_", "POWERTOOLS_", "MOTO_")
#: How long stopping waits for running invocations before ending their workers.
SHUTDOWN_SECONDS = 30.0
#: Powertools warns whenever an invocation flushes no metric (most tasks publish none).
POWERTOOLS_NO_METRICS = "No application metrics to publish"


def default_processes() -> int:
    """Worker processes for the handlers: ``TAILORCAST_LOCAL_LAMBDA_PROCESSES`` (0: run them on
    the invoking threads, in the stack's process), or one per core."""
    configured = os.environ.get("TAILORCAST_LOCAL_LAMBDA_PROCESSES")
    if configured is not None and configured.strip():
        return max(0, int(configured))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class HandlerRef:
    """Where a worker process finds a handler: ``module`` then the dotted ``attribute`` path in
    it, then ``[key]`` when given (the app's ``app.handler_map[name]``)."""

    module: str
    attribute: str
    key: str | None = None

    def resolve(self) -> Handler:
        found: Any = importlib.import_module(self.module)
        for part in self.attribute.split("."):
            found = getattr(found, part)
        handler: Handler = found[self.key] if self.key is not None else found
        return handler


def _configuration() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(CONFIGURATION_PREFIXES)}


@dataclass
class LambdaContext:
    """What a Lambda handler's ``context`` offers (Powertools reads these fields)."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_seconds: float = 900.0
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


Handler = Callable[[Any, Any], Any]


def _error_payload(exc: BaseException) -> str:
    """How the Lambda runtime reports an exception."""
    return json.dumps(
        {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(exc)[-5:],
        }
    )


def _run(handler: Handler, function_name: str, arn: str, event: Any) -> tuple[str, bool]:
    context = LambdaContext(function_name=function_name, invoked_function_arn=arn)
    try:
        return json.dumps(handler(event, context), default=str), False
    except Exception as exc:  # the Lambda runtime reports every exception this way
        return _error_payload(exc), True


# ----------------------------------------------------------------------------- worker processes

_worker_handlers: dict[HandlerRef, Handler] = {}


def _worker_start(parent: int) -> None:
    """A worker ends with the stack's process, however that ends (a ``kill -9`` included: it must
    not hold the stack's ports' clients or its output pipe open). A worker's logs are the
    function's log stream: they go to stderr, never into what the stack's process prints on
    stdout (a benchmark's JSON, for one)."""
    _die_with(parent)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    warnings.filterwarnings("ignore", message=POWERTOOLS_NO_METRICS, category=UserWarning)


def _die_with(parent: int) -> None:
    """Exit as soon as ``parent`` is gone (the worker is re-parented). Polled, not
    ``PR_SET_PDEATHSIG``: that signal fires when the *thread* that started the worker ends, and
    the pool starts workers from whichever thread submits (a server's request thread)."""
    if os.getppid() != parent:  # it went before this worker got here
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_configure(configuration: dict[str, str]) -> None:
    """Take the stack's function configuration; rebuild the app's adapters if it changed."""
    if configuration == _configuration():
        return
    for key in [k for k in os.environ if k.startswith(CONFIGURATION_PREFIXES) and k not in configuration]:
        del os.environ[key]
    os.environ.update(configuration)
    dependencies = sys.modules.get("chalicelib.dependencies")
    if dependencies is not None:
        dependencies.reset()


def _worker_invoke(
    ref: HandlerRef, function_name: str, arn: str, event_json: str, configuration: dict[str, str]
) -> tuple[str, bool]:
    """One invocation in a worker process (a warm execution environment)."""
    _worker_configure(configuration)
    handler = _worker_handlers.get(ref)
    if handler is None:
        try:
            handler = _worker_handlers[ref] = ref.resolve()
        except Exception as exc:  # Runtime.ImportModuleError
            return _error_payload(exc), True
    return _run(handler, function_name, arn, json.loads(event_json))


def _worker_warm(refs: list[HandlerRef], configuration: dict[str, str]) -> int:
    """Import the functions' code ahead of the first invocation (an environment's init phase)."""
    _worker_configure(configuration)
    for ref in refs:
        if ref not in _worker_handlers:
            _worker_handlers[ref] = ref.resolve()
    return os.getpid()


@dataclass
class LambdaFault:
    """An injected failure, for tests of what callers do when a function fails: invocations of
    ``function`` whose event carries every ``match`` entry raise ``error`` instead of running
    (``times`` times, or always when None), reported as the Lambda runtime reports an exception."""

    function: str
    match: dict[str, Any]
    error: Exception
    times: int | None = None
    hits: int = 0

    def applies(self, function_name: str, event: Any) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (
            function_name == self.function
            and isinstance(event, dict)
            and all(event.get(k) == v for k, v in self.match.items())
        )


class Dispatcher:
    """Maps deployed function names to handlers and runs them (see the module's docstring).

    ``processes``: worker processes for the functions registered with a :class:`HandlerRef`
    (0: every handler runs on the invoking thread). The pool starts with the first invocation,
    or :meth:`warm`.
    """

    def __init__(self, workers: int = 2, processes: int = 0) -> None:
        self.handlers: dict[str, Handler] = {}
        self.refs: dict[str, HandlerRef] = {}
        self.arns: dict[str, str] = {}
        self.processes = processes
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda-async")
        self._workers: ProcessPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.dead_letters: list[dict[str, Any]] = []
        self.faults: list[LambdaFault] = []

    def register(self, function_name: str, arn: str, handler: Handler, ref: HandlerRef | None = None) -> None:
        """``ref``: where a worker process finds the same ``handler`` (omit to run it in-process)."""
        self.handlers[function_name] = handler
        self.arns[function_name] = arn
        if ref is not None:
            self.refs[function_name] = ref
        else:
            self.refs.pop(function_name, None)

    def invoke(self, function_name: str, event: Any) -> tuple[str, bool]:
        """Run one invocation; returns (payload JSON, errored) like the Lambda service."""
        handler = self.handlers.get(function_name)
        if handler is None:
            return json.dumps({"errorType": "ResourceNotFoundException", "errorMessage": function_name}), True
        try:
            self._raise_injected(function_name, event)
        except Exception as exc:
            return _error_payload(exc), True
        ref = self.refs.get(function_name)
        if ref is None or self.processes <= 0:
            return _run(handler, function_name, self.arns[function_name], event)
        return self._invoke_in_worker(ref, function_name, event)

    def _invoke_in_worker(self, ref: HandlerRef, function_name: str, event: Any) -> tuple[str, bool]:
        try:
            future = self._process_pool().submit(
                _worker_invoke,
                ref,
                function_name,
                self.arns[function_name],
                json.dumps(event),
                _configuration(),
            )
            return future.result()
        except BrokenProcessPool as exc:  # a worker died (killed, out of memory): Runtime.ExitError
            self._replace_broken_pool()
            return _error_payload(exc), True
        except (CancelledError, RuntimeError) as exc:  # the stack is stopping
            return _error_payload(exc), True

    def _process_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the local stack is stopping")
            if self._workers is None:
                self._workers = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_start,
                    initargs=(os.getpid(),),
                )
            return self._workers

    def _replace_broken_pool(self) -> None:
        with self._lock:
            broken, self._workers = self._workers, None
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)

    def worker_cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the live worker processes (Linux ``/proc``)."""
        with self._lock:
            pids = list(getattr(self._workers, "_processes", None) or {})
        total = 0.0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended between the listing and the read
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def warm(self) -> None:
        """Start the worker processes and import the functions' code in each, in the background."""
        if self.processes <= 0 or not self.refs:
            return
        pool = self._process_pool()
        refs = sorted(set(self.refs.values()), key=repr)
        for _ in range(self.processes):
            pool.submit(_worker_warm, refs, _configuration())

    def inject(self, fault: LambdaFault) -> LambdaFault:
        """Add a fault (tests); remove it from :attr:`faults` to heal."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def _raise_injected(self, function_name: str, event: Any) -> None:
        with self._lock:
            for fault in self.faults:
                if fault.applies(function_name, event):
                    fault.hits += 1
                    raise fault.error

    def invoke_async(self, function_name: str, event: Any) -> None:
        future = self._pool.submit(self._run_async, function_name, event)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run_async(self, function_name: str, event: Any) -> None:
        for attempt in range(ASYNC_RETRIES + 1):
            payload, errored = self.invoke(function_name, event)
            if not errored:
                return
            logger.warning(
                "async invocation of %s failed (attempt %d): %s", function_name, attempt + 1, payload[:500]
            )
            time.sleep(RETRY_DELAY_SECONDS * (attempt + 1))
        self.dead_letters.append({"function": function_name, "event": event, "error": json.loads(payload)})

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until no asynchronous invocation is running (tests, and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.02)
        return False

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, None
        if workers is not None:
            # Invocations still running finish (the stack stops its executions first); one
            # stuck past the deadline is ended, as Lambda ends a function at its timeout.
            processes = list((getattr(workers, "_processes", None) or {}).values())
            workers.shutdown(wait=False, cancel_futures=True)
            deadline = time.monotonic() + SHUTDOWN_SECONDS
            for process in processes:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    logger.warning("a Lambda worker did not finish in time; ending it")
                    process.kill()
                    process.join(5)


_active: Dispatcher | None = None


def install(dispatcher: Dispatcher) -> None:
    """Route moto's Lambda invocations to ``dispatcher`` (idempotent)."""
    global _active
    _active = dispatcher
    from moto.awslambda import models as lambda_models
    from moto.s3 import notifications

    if getattr(lambda_models.LambdaFunction, "_tailorcast_patched", False):
        return

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        assert _active is not None
        data = json.loads(event) if isinstance(event, str | bytes) else (event or {})
        payload, errored = _active.invoke(self.function_name, data)
        return payload, errored, ""

    def _invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        assert _active is not None
        _active.invoke_async(fn_arn.rsplit(":", 1)[-1], event_body)

    lambda_models.LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    lambda_models.LambdaFunction._tailorcast_patched = True  # type: ignore[attr-defined]
    notifications._invoke_awslambda = _invoke_awslambda
