"""Handlers the worker-pool tests invoke by reference (a worker process imports this module)."""

from __future__ import annotations

import os
from typing import Any


def where(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Which process ran the event, what it saw, and the function configuration it had."""
    return {
        "pid": os.getpid(),
        "event": event,
        "function_name": context.function_name,
        "setting": os.environ.get("TAILORCAST_TEST_SETTING"),
    }


def fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise ValueError(f"refused {event.get('n')}")


def die(event: dict[str, Any], context: Any) -> dict[str, Any]:
    os._exit(3)  # the execution environment crashes (out of memory, a segfault in a codec)
