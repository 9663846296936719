"""The local stand-in for CloudFront in front of the media bucket: ``GET /{key}`` serves the
object from (moto's) S3, with its content type, so a printed playlist URL plays in ffplay, VLC,
Safari or hls.js exactly as a CloudFront URL would. Loopback only; read-only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

logger = logging.getLogger("devstack.gateway")

#: Segments never change once written (each render has its own prefix); playlists might.
IMMUTABLE_SUFFIXES = (".m4s", ".mp4", ".ts", ".jpg", ".webp", ".aac")


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("gateway %s %s", self.path, code)


class MediaGateway:
    def __init__(self, s3: Callable[[], Any], bucket: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self._s3_factory, self._bucket = s3, bucket
        self._s3: Any = None
        self._server: BaseWSGIServer = make_server(
            host, port, self._wsgi, threaded=True, request_handler=_Quiet
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="media-gateway", daemon=True)

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host if isinstance(host, str) else host.decode()}:{self._server.server_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._respond(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("method not allowed\n", status=405, headers={"Allow": "GET, HEAD"})
        key = request.path.lstrip("/")
        if not key or ".." in key.split("/"):
            return Response("not found\n", status=404)
        if self._s3 is None:
            self._s3 = self._s3_factory()  # built on first use: the endpoint is configured by then
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if request.range is not None:
            kwargs["Range"] = request.headers["Range"]
        try:
            obj = self._s3.get_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                return Response("not found\n", status=404)
            if code == "InvalidRange":
                return Response("range not satisfiable\n", status=416)
            raise
        body = b"" if request.method == "HEAD" else obj["Body"].read()
        cache = (
            "public, max-age=31536000, immutable" if key.endswith(IMMUTABLE_SUFFIXES) else "public, max-age=5"
        )
        headers = {"Cache-Control": cache, "Accept-Ranges": "bytes"}
        if "ContentRange" in obj:
            headers["Content-Range"] = obj["ContentRange"]
        return Response(
            body,
            status=206 if "ContentRange" in obj else 200,
            content_type=obj.get("ContentType") or "application/octet-stream",
            headers=headers,
        )
