"""The watch page's static assets, built by ``make web`` (``web/build.mjs``) into ``dist/``.

Every file is named by its content hash (``player.3f9a0c12de.js``), so it is served with
``Cache-Control: public, max-age=31536000, immutable``. Only names listed in ``dist/manifest.json``
are ever read: a request for anything else (another name, a path, ``..``) gets ``None``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

DIST = Path(__file__).parent / "dist"
MANIFEST = DIST / "manifest.json"
#: Where the routes serve the assets (the front door sends ``/assets/*`` to the API).
ASSETS_PREFIX = "/assets/"
#: Content-hashed names never change content: cache them forever.
CACHE_CONTROL = "public, max-age=31536000, immutable"

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_HASHED_NAME = re.compile(r"[a-z][a-z0-9-]*\.[0-9a-f]{10}\.(?:js|css)")


class AssetsNotBuiltError(RuntimeError):
    """``dist/manifest.json`` is missing or unreadable: the assets were never built."""


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    content_type: str
    cache_control: str = CACHE_CONTROL


_lock = threading.Lock()
_manifest: tuple[int, dict[str, str]] | None = None  # (manifest mtime_ns, logical -> hashed)
_bodies: dict[str, bytes] = {}


def manifest() -> dict[str, str]:
    """Logical name (``player.js``) -> hashed file name, re-read when a new build replaces it."""
    global _manifest
    try:
        mtime = MANIFEST.stat().st_mtime_ns
    except OSError as exc:
        raise AssetsNotBuiltError(f"{MANIFEST} is missing: run `make web` to build the watch page") from exc
    with _lock:
        if _manifest is None or _manifest[0] != mtime:
            try:
                data = json.loads(MANIFEST.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise AssetsNotBuiltError(f"{MANIFEST} is unreadable: run `make web`") from exc
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and _HASHED_NAME.fullmatch(v)
                for k, v in data.items()
            ):
                raise AssetsNotBuiltError(f"{MANIFEST} is not a manifest: run `make web`")
            _manifest = (mtime, dict(data))
            _bodies.clear()
        return dict(_manifest[1])


def asset_url(logical: str) -> str:
    """``/assets/player.<hash>.js`` for ``player.js``; KeyError for a name the build doesn't make."""
    return ASSETS_PREFIX + manifest()[logical]


def get_asset(name: str) -> Asset | None:
    """The built file called ``name`` (a hashed name from the manifest), or None for anything else."""
    if not _HASHED_NAME.fullmatch(name) or name not in manifest().values():
        return None
    with _lock:
        body = _bodies.get(name)
    if body is None:
        try:
            body = (DIST / name).read_bytes()
        except OSError:
            return None
        with _lock:
            _bodies[name] = body
    return Asset(name=name, body=body, content_type=_CONTENT_TYPES[Path(name).suffix])
