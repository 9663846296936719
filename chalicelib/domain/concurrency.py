"""Optimistic concurrency: read, change, write back only if nobody wrote in between."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from chalicelib.domain.errors import ConflictError, PreconditionFailedError

T = TypeVar("T")
logger = logging.getLogger(__name__)

UPDATE_ATTEMPTS = 5


def optimistic_update(
    read: Callable[[], T],
    write: Callable[[T], T],
    change: Callable[[T], T | None],
    attempts: int = UPDATE_ATTEMPTS,
) -> T:
    """Apply ``change`` to a fresh read until a version-checked ``write`` wins.

    ``change`` returns the new value, or ``None`` to leave it untouched.

    Raises
    ------
    ConflictError
        If every attempt lost a race.
    """
    for attempt in range(attempts):
        current = read()
        changed = change(current)
        if changed is None:
            return current
        try:
            return write(changed)
        except PreconditionFailedError:
            raise
        except ConflictError:
            logger.info("write conflict, retrying", extra={"attempt": attempt})
    raise ConflictError("this is being changed concurrently; try again")
