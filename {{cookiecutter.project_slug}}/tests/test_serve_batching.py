"""Concurrent /predict requests share one model call, and each gets its own answer.

The batcher's rules run on a stand-in for the model (which rows each call got, and an
answer that names its row), the service's on the real app: requests in flight together
make fewer model calls than requests, and answer as each would alone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.serving import create_app
from {{ cookiecutter.package_name }}.serving.batching import Batcher, Fields

from service_support import Record, loaded_service
from task_support import ONNX_TOLERANCE, served_answer

Calls = list[list[int]]
WAIT_S = 10.0  # for an answer that should come at once: a lost one fails, not hangs


def rows(*numbers: int) -> list[Record]:
    return [{"x": number} for number in numbers]


def doubling(calls: Calls, before: Callable[[], None] = lambda: None) -> Callable[..., Fields]:
    """A stand-in model: logs each call's rows, doubles each, refuses a negative one."""

    def fields(records: Sequence[Record]) -> Fields:
        numbers = [record["x"] for record in records]
        calls.append(numbers)
        before()
        if any(number < 0 for number in numbers):
            raise ValueError(f"x: {min(numbers)} is negative")
        return {"predictions": [2 * n for n in numbers], "rows": [str(n) for n in numbers]}

    return fields


def gathered(batcher: Batcher, *requests: list[Record]) -> list[Any]:
    """The batcher's answers to requests that all wait at once (an exception is an answer)."""

    async def together() -> list[Any]:
        calls = (batcher.predict(records) for records in requests)
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), WAIT_S)

    return asyncio.run(together())


def test_requests_waiting_together_share_one_call() -> None:
    calls: Calls = []
    batcher = Batcher(doubling(calls), offload=False, max_rows=256)
    answers = gathered(batcher, rows(1), rows(2, 3), rows(4))
    assert calls == [[1, 2, 3, 4]]
    assert answers == [
        {"predictions": [2], "rows": ["1"]},
        {"predictions": [4, 6], "rows": ["2", "3"]},
        {"predictions": [8], "rows": ["4"]},
    ]


def test_a_request_alone_waits_for_no_other() -> None:
    calls: Calls = []
    batcher = Batcher(doubling(calls), offload=False, max_rows=256)

    async def one_after_another() -> list[Fields]:
        return [await batcher.predict(rows(number)) for number in (1, 2)]

    assert asyncio.run(one_after_another()) == [
        {"predictions": [2], "rows": ["1"]},
        {"predictions": [4], "rows": ["2"]},
    ]
    assert calls == [[1], [2]]


def test_a_call_never_takes_more_rows_than_one_request_may_send() -> None:
    calls: Calls = []
    batcher = Batcher(doubling(calls), offload=False, max_rows=4)
    answers = gathered(batcher, rows(1, 2, 3), rows(4, 5), rows(6), rows(7, 8, 9, 10))
    assert calls == [[1, 2, 3], [4, 5, 6], [7, 8, 9, 10]]
    predictions = [answer["predictions"] for answer in answers]
    assert predictions == [[2, 4, 6], [8, 10], [12], [14, 16, 18, 20]]


def test_a_failing_call_fails_only_the_requests_whose_rows_fail() -> None:
    calls: Calls = []
    batcher = Batcher(doubling(calls), offload=False, max_rows=256)
    first, failed, last = gathered(batcher, rows(1), rows(2, -3), rows(4))
    assert calls == [[1, 2, -3, 4], [1], [2, -3], [4]]  # together, then each alone
    assert first == {"predictions": [2], "rows": ["1"]}
    assert isinstance(failed, ValueError) and str(failed) == "x: -3 is negative"
    assert last == {"predictions": [8], "rows": ["4"]}


def test_a_cancelled_request_leaves_the_others_answered() -> None:
    calls: Calls = []
    batcher = Batcher(doubling(calls), offload=False, max_rows=256)

    async def one_cancelled() -> list[Any]:
        waiting = [asyncio.ensure_future(batcher.predict(rows(n))) for n in (1, 2, 3)]
        await asyncio.sleep(0)  # all three wait, the call is scheduled and has not run
        waiting[1].cancel()  # as when a client disconnects
        answers = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), WAIT_S)
        return [*answers, await asyncio.wait_for(batcher.predict(rows(4)), WAIT_S)]

    first, cancelled, third, later = asyncio.run(one_cancelled())
    assert isinstance(cancelled, asyncio.CancelledError)
    assert (first["predictions"], third["predictions"], later["predictions"]) == ([2], [6], [8])
    assert calls == [[1, 2, 3], [4]]


def test_a_slow_model_runs_in_a_thread_and_requests_meanwhile_make_the_next_call() -> None:
    calls: Calls = []
    threads: set[str] = set()
    running, release = threading.Event(), threading.Event()

    def hold_the_first_call() -> None:
        threads.add(threading.current_thread().name)
        if len(calls) == 1:
            running.set()
            assert release.wait(WAIT_S), "the test never released the first call"

    batcher = Batcher(doubling(calls, hold_the_first_call), offload=True, max_rows=256)

    async def arriving_during_a_call() -> list[Fields]:
        first = asyncio.ensure_future(batcher.predict(rows(1)))
        assert await asyncio.to_thread(running.wait, WAIT_S)  # the event loop is free meanwhile
        later = [asyncio.ensure_future(batcher.predict(rows(n))) for n in (2, 3)]
        await asyncio.sleep(0)  # both wait for the running call to end
        release.set()
        return await asyncio.wait_for(asyncio.gather(first, *later), WAIT_S)

    answers = asyncio.run(arriving_during_a_call())
    assert calls == [[1], [2, 3]]
    assert [answer["predictions"] for answer in answers] == [[2], [4], [6]]
    assert threading.main_thread().name not in threads


def test_concurrent_requests_share_model_calls_and_answer_as_alone(
    serving_bundle: Path, known: list[Record], schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = loaded_service(serving_bundle)
    predictor = service.predictor
    assert predictor is not None
    sizes: list[int] = []
    outputs = predictor.outputs

    def counted(records: Sequence[Record]) -> np.ndarray:
        sizes.append(len(records))
        return outputs(records)

    monkeypatch.setattr(predictor, "outputs", counted)
    app = create_app(service=service)
    bodies = [{"records": [record]} for record in known[:8]]

    async def in_flight_together() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return list(await asyncio.gather(*(client.post("/predict", json=b) for b in bodies)))

    together = asyncio.run(in_flight_together())
    assert sum(sizes) == len(bodies) and max(sizes) > 1, sizes
    del sizes[:]
    with TestClient(app) as client:
        alone = [client.post("/predict", json=body) for body in bodies]
    assert sizes == [1] * len(bodies)
    for shared, own in zip(together, alone):
        assert shared.status_code == own.status_code == 200
        shared_body, own_body = shared.json(), own.json()
        assert shared_body["request_id"] != own_body["request_id"]
        assert shared_body["warnings"] == own_body["warnings"]
        np.testing.assert_allclose(
            served_answer(shared_body, schema), served_answer(own_body, schema), atol=ONNX_TOLERANCE
        )
