"""Run the Chalice app's Lambda handlers in this process when moto invokes a function.

moto would start a Docker container per invocation; there is no Docker here, and the handlers
are already importable. We patch two private moto hooks (moto is pinned for that reason):

* ``LambdaFunction._invoke_lambda`` — synchronous invokes (Step Functions tasks, the Invoke API);
* ``moto.s3.notifications._invoke_awslambda`` — S3 event notifications, which AWS delivers
  asynchronously: they go to a worker pool, with AWS's two retries for async invokes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("devstack.lambdas")

ASYNC_RETRIES = 2  # AWS retries a failed asynchronous invocation twice
RETRY_DELAY_SECONDS = 0.5


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
    """Maps deployed function names to in-process handlers and runs them."""

    def __init__(self, workers: int = 2) -> None:
        self.handlers: dict[str, Handler] = {}
        self.arns: dict[str, str] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda-async")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self.dead_letters: list[dict[str, Any]] = []
        self.faults: list[LambdaFault] = []

    def register(self, function_name: str, arn: str, handler: Handler) -> None:
        self.handlers[function_name] = handler
        self.arns[function_name] = arn

    def invoke(self, function_name: str, event: Any) -> tuple[str, bool]:
        """Run one invocation; returns (payload JSON, errored) like the Lambda service."""
        handler = self.handlers.get(function_name)
        if handler is None:
            return json.dumps({"errorType": "ResourceNotFoundException", "errorMessage": function_name}), True
        context = LambdaContext(function_name=function_name, invoked_function_arn=self.arns[function_name])
        try:
            self._raise_injected(function_name, event)
            result = handler(event, context)
            return json.dumps(result, default=str), False
        except Exception as exc:  # the Lambda runtime reports every exception this way
            payload = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-5:],
            }
            return json.dumps(payload), True

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
