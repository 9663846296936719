"""What the local stand-ins of AWS's JSON 1.1 services share (Firehose, Athena): the loopback
HTTP server, ``X-Amz-Target`` dispatch, request validation against botocore's own service model,
and errors in the form botocore parses (``{"__type": …, "message": …}``).

Each operation is a method that takes the request's parameters (already validated) and returns
the response's; botocore's model is the wire contract, so boto3 clients talk to a stand-in
exactly as to the service.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.validate import ParamValidator
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ApiError(Exception):
    """An error answer: HTTP status, the error code botocore raises as, and its message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug(message, *args)


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JsonApiServer:
    """Serves one service's operations on 127.0.0.1; :meth:`start`, :attr:`url`, :meth:`stop`.

    Subclasses set :attr:`service` (botocore's name), :attr:`target_prefix` (what precedes the
    operation in ``X-Amz-Target``) and return their handlers from :meth:`operations`.
    """

    service = ""
    target_prefix = ""
    #: The error code for an operation the stand-in does not serve, and for invalid parameters.
    invalid_request_code = "InvalidRequestException"
    validation_error_code = "ValidationException"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            raise ValueError(f"the {self.service} stand-in serves loopback only, not {host}")
        self._host, self._port = host, port
        self._model = botocore.session.get_session().get_service_model(self.service)
        self._server: BaseWSGIServer | None = None
        self._thread: Any = None

    def operations(self) -> dict[str, Handler]:
        raise NotImplementedError

    # lifecycle

    def start(self) -> None:
        import threading

        self._server = make_server(
            self._host, self._port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=partial(self._server.serve_forever, poll_interval=0.05),
            name=f"{self.service}-api",
            daemon=True,
        )
        self._thread.start()

    def stop_serving(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server, self._thread = None, None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.service} stand-in is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._server.server_port}"

    # HTTP

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            payload = self._dispatch(request)
            response = Response(
                json.dumps(payload, default=_json_default), content_type="application/x-amz-json-1.1"
            )
        except ApiError as exc:
            response = _error(exc)
        except Exception:
            logger.exception("%s stand-in: request failed", self.service)
            response = _error(ApiError("InternalFailure", "internal error", 500))
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> dict[str, Any]:
        target = request.headers.get("X-Amz-Target", "")
        prefix, _, name = target.partition(".")
        if request.method != "POST" or prefix != self.target_prefix or not name:
            raise ApiError("UnknownOperationException", f"no {self.service} operation for {target!r}")
        handlers = self.operations()
        if name not in handlers:
            raise ApiError(
                self.invalid_request_code,
                f"{name} is not supported by the local {self.service} stand-in "
                f"(supported: {', '.join(sorted(handlers))})",
            )
        try:
            params = json.loads(request.get_data() or b"{}")
        except ValueError as exc:
            raise ApiError("SerializationException", f"request body is not JSON: {exc}") from exc
        if not isinstance(params, dict):
            raise ApiError("SerializationException", "request body must be a JSON object")
        params = self.decode(name, params)
        operation = self._model.operation_model(name)
        if operation.input_shape is not None:
            report = ParamValidator().validate(params, operation.input_shape)
            if report.has_errors():
                raise ApiError(self.validation_error_code, report.generate_report())
        return handlers[name](params)

    def decode(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Wire values that are not JSON types (base64 blobs) into what botocore validates."""
        return params


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()  # the JSON protocol's timestamps: epoch seconds
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _error(exc: ApiError) -> Response:
    body = {"__type": exc.code, "message": exc.message, "Message": exc.message}
    return Response(json.dumps(body), status=exc.status, content_type="application/x-amz-json-1.1")
