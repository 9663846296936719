"""The local Lambda service's worker processes: the same handlers and events, one invocation at
a time per worker, the function configuration sent with each, errors reported like the runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devstack.lambdas import Dispatcher, HandlerRef, LambdaFault

PROJECT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    from tests.standins import lambda_handlers

    d = Dispatcher(processes=2)
    for name in ("where", "fail", "die"):
        d.register(
            name,
            ARN + name,
            getattr(lambda_handlers, name),
            HandlerRef("tests.standins.lambda_handlers", name),
        )
    try:
        yield d
    finally:
        d.shutdown()


def test_invocations_run_in_worker_processes_not_the_stacks(dispatcher: Dispatcher) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: dispatcher.invoke("where", {"n": n}), range(16)))

    payloads = [json.loads(payload) for payload, errored in results if not errored]
    assert len(payloads) == 16
    assert [p["event"] for p in payloads] == [{"n": n} for n in range(16)]
    assert {p["function_name"] for p in payloads} == {"where"}
    pids = {p["pid"] for p in payloads}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert dispatcher.worker_cpu_seconds() > 0


def test_the_function_configuration_travels_with_each_invocation(
    dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAILORCAST_TEST_SETTING", "first")
    assert json.loads(dispatcher.invoke("where", {})[0])["setting"] == "first"
    monkeypatch.setenv("TAILORCAST_TEST_SETTING", "second")
    assert json.loads(dispatcher.invoke("where", {})[0])["setting"] == "second"
    monkeypatch.delenv("TAILORCAST_TEST_SETTING")
    assert json.loads(dispatcher.invoke("where", {})[0])["setting"] is None


def test_an_exception_is_reported_as_the_runtime_reports_it(dispatcher: Dispatcher) -> None:
    payload, errored = dispatcher.invoke("fail", {"n": 7})
    assert errored
    error = json.loads(payload)
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "refused 7")


def test_an_injected_fault_never_reaches_a_worker(dispatcher: Dispatcher) -> None:
    dispatcher.inject(LambdaFault("where", {"n": 1}, RuntimeError("injected"), times=1))
    first, second = dispatcher.invoke("where", {"n": 1}), dispatcher.invoke("where", {"n": 1})
    assert first[1] and json.loads(first[0])["errorMessage"] == "injected"
    assert not second[1]


def test_a_crashed_worker_fails_its_invocation_and_the_next_one_gets_a_fresh_environment(
    dispatcher: Dispatcher,
) -> None:
    payload, errored = dispatcher.invoke("die", {})
    assert errored and json.loads(payload)["errorType"] == "BrokenProcessPool"
    payload, errored = dispatcher.invoke("where", {"n": 2})
    assert not errored and json.loads(payload)["event"] == {"n": 2}


def test_without_worker_processes_handlers_run_in_the_stacks_process() -> None:
    from tests.standins import lambda_handlers

    d = Dispatcher(processes=0)
    d.register(
        "where", ARN + "where", lambda_handlers.where, HandlerRef("tests.standins.lambda_handlers", "where")
    )
    try:
        assert json.loads(d.invoke("where", {})[0])["pid"] == os.getpid()
    finally:
        d.shutdown()


def test_a_stopped_service_refuses_new_invocations(dispatcher: Dispatcher) -> None:
    dispatcher.shutdown()
    payload, errored = dispatcher.invoke("where", {})
    assert errored and "stopping" in json.loads(payload)["errorMessage"]


def test_workers_end_with_the_stacks_process_even_when_it_is_killed(tmp_path: Path) -> None:
    # GIVEN a process (the stack) whose invocation ran in a worker
    script = tmp_path / "stack.py"
    script.write_text(
        "import json, os, signal\n"
        "from devstack.lambdas import Dispatcher, HandlerRef\n"
        "from tests.standins import lambda_handlers\n"
        "if __name__ == '__main__':\n"
        "    d = Dispatcher(processes=1)\n"
        "    d.register('where', 'arn', lambda_handlers.where, HandlerRef('tests.standins.lambda_handlers', 'where'))\n"
        "    print(json.loads(d.invoke('where', {})[0])['pid'], flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    # WHEN it is killed (SIGKILL: nothing of it runs after)
    assert done.returncode == -9, done.stderr
    worker = int(done.stdout.strip())
    # THEN its worker is gone too
    deadline = time.monotonic() + 10
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{worker}").exists() or "Z" in Path(f"/proc/{worker}/stat").read_text().split()[2]


def test_a_worker_started_from_a_short_lived_thread_outlives_it() -> None:
    # The pool starts workers from whichever thread submits (moto's per-request threads): a worker
    # must end with the stack's process, not with that thread.
    import threading

    from tests.standins import lambda_handlers

    d = Dispatcher(processes=1)
    d.register(
        "where", ARN + "where", lambda_handlers.where, HandlerRef("tests.standins.lambda_handlers", "where")
    )
    try:
        first: list[tuple[str, bool]] = []
        request = threading.Thread(target=lambda: first.append(d.invoke("where", {"n": 1})))
        request.start()
        request.join()
        time.sleep(0.5)  # a signal tied to that thread would have ended the worker by now
        second = d.invoke("where", {"n": 2})
        assert not first[0][1] and not second[1], second
        assert json.loads(first[0][0])["pid"] == json.loads(second[0])["pid"]
    finally:
        d.shutdown()
