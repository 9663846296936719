from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SMOKE_MACHINE = Path(__file__).parent / "state_machines" / "smoke.asl.json"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[object]:
    """The real local stack in this process (moto server, Chalice HTTP server, dispatch)."""
    from chalicelib import dependencies
    from devstack.stack import LocalStack

    saved = dict(os.environ)
    local = LocalStack(tmp_path / "state", extra_state_machines={"smoke": SMOKE_MACHINE})
    local.start()
    try:
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
        dependencies.reset()
