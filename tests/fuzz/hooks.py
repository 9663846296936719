"""Schemathesis hooks for ``make fuzz``, loaded by the schemathesis process that ``run.py`` starts.

* Path ids resolve: each operation gets, as often as generated ones, the ids of the records
  ``run.py`` seeded (a campaign with prospects, an import, a webhook endpoint, a pronunciation, a
  watch token, an asset). Destructive operations get the ids of a spare campaign (and endpoint,
  pronunciation), so that one 204 does not turn the rest of the run into 404s.
* The public watch routes are sent as the front door sends them: with its ``X-Origin-Verify``.
* Nothing leaves the machine: a request to any host but 127.0.0.1, or to an operation that
  registers a URL to be called, is refused before it is sent (``run.py`` also leaves those out).
* ``tenant_isolation``: the first request of each operation that succeeded on the seeded records is
  sent again with the other account's token, which must get a 404.
* Every request sent is counted; the count is written to ``TAILORCAST_FUZZ_COUNT`` at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import schemathesis
from hypothesis import strategies as st

_SEEDS: dict[str, Any] = json.loads(Path(os.environ["TAILORCAST_FUZZ_SEEDS"]).read_text())
_COUNT_FILE = Path(os.environ["TAILORCAST_FUZZ_COUNT"])
_PEER_TOKEN = os.environ["TAILORCAST_FUZZ_PEER_TOKEN"]
_ORIGIN_VERIFY = os.environ.get("TAILORCAST_FUZZ_ORIGIN_VERIFY", "")
_LOOPBACK = "127.0.0.1"
_FRONT_DOOR_PREFIXES = ("/w/", "/assets/")
#: Never sent: a registered URL receives events (run.py leaves these operations out, too).
_OFF_MACHINE = {("POST", "/webhooks"), ("POST", "/webhooks/{endpoint_id}/test")}
#: Ids that name one tenant's record and no other's (a pronunciation's name is per account).
_TENANT_IDS = ("campaign_id", "prospect_id", "import_id", "endpoint_id", "batch_id")

_lock = threading.Lock()
_sent = 0
_isolation_checked: set[str] = set()


def _ids_for(method: str, path: str) -> dict[str, str]:
    if path.startswith("/assets/"):
        return {"name": _SEEDS["asset"]}
    # Deleting by these ids (or by filter) would leave nothing for the operations after them.
    destructive = method == "DELETE" or path.endswith("/bulk-delete")
    ids: dict[str, str] = _SEEDS["spare" if destructive else "ids"]
    return ids


@schemathesis.hook
def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> Any:
    if not path_parameters:
        return st.just(path_parameters)
    op = ctx.operation
    known = _ids_for(str(op.method).upper(), op.path)
    seeded = {name: known.get(name, value) for name, value in path_parameters.items()}
    if seeded == path_parameters:
        return st.just(path_parameters)
    return st.sampled_from([seeded, path_parameters])


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    op = case.operation
    if (str(op.method).upper(), op.path) in _OFF_MACHINE:
        raise RuntimeError(f"refusing to send {op.method} {op.path}: its URL would receive events")
    host = urlsplit(op.schema.get_base_url()).hostname
    if host != _LOOPBACK:
        raise RuntimeError(f"refusing to send a fuzz request to {host!r}: loopback only")
    if _ORIGIN_VERIFY and op.path.startswith(_FRONT_DOOR_PREFIXES):
        case.headers = {**(case.headers or {}), "X-Origin-Verify": _ORIGIN_VERIFY}


@schemathesis.hook
def after_call(ctx: Any, case: Any, response: Any) -> None:
    global _sent
    with _lock:
        _sent += 1


@schemathesis.check
def tenant_isolation(ctx: Any, response: Any, case: Any) -> bool | None:
    """What one account reached with its own ids, another account's token must not reach (404)."""
    op = case.operation
    ours = {(n, v) for ids in (_SEEDS["ids"], _SEEDS["spare"]) for n, v in ids.items() if n in _TENANT_IDS}
    names_ours = any(item in ours for item in (case.path_parameters or {}).items())
    if (
        not names_ours
        or case.method.upper() != str(op.method).upper()  # the coverage phase's other methods
        or not 200 <= response.status_code < 300
        or op.path.startswith(_FRONT_DOOR_PREFIXES)
    ):
        return None
    with _lock:
        if op.label in _isolation_checked:
            return None
        _isolation_checked.add(op.label)
    kwargs = case.as_transport_kwargs(base_url=op.schema.get_base_url())
    kwargs.pop("auth", None)
    kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {_PEER_TOKEN}"}
    peer = requests.request(**kwargs, allow_redirects=False, timeout=60)
    if peer.status_code != 404:
        raise AssertionError(
            f"another account's token got {peer.status_code} (not 404) for what this account just got "
            f"{response.status_code}: {peer.text[:300]}"
        )
    return None


@atexit.register
def _write_count() -> None:
    _COUNT_FILE.write_text(
        json.dumps({"requests": _sent, "tenant_isolation_checks": len(_isolation_checked)})
    )
