"""Concurrent predictions coalesced into one model call.

A model call costs far more than the rows in it: under load, ONNX Runtime answers four rows
of a 100-tree forest in about the time it takes for one, as the trees fall out of the CPU's
caches between requests. So the requests that wait for the model at the same moment share
one call. The first of them schedules the call for the event loop's next turn, never on a
timer: a request alone waits for nothing, and those that reach the batcher before that
turn join it. A predictor too slow for the event loop runs in a worker thread; the
requests that arrive meanwhile make the next call.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool

from ..predictors import Record

# An answer's fields, one value per record each: predictions, probabilities...
Fields = dict[str, list[Any]]
Outcome = Fields | Exception


@dataclass(frozen=True)
class Waiting:
    """One request's records and the future its answer is set on."""

    records: Sequence[Record]
    answer: "asyncio.Future[Fields]"


def split(fields: Fields, sizes: Sequence[int]) -> list[Fields]:
    """One call's fields cut into consecutive parts of ``sizes`` records."""
    parts, start = [], 0
    for size in sizes:
        end = start + size
        parts.append({name: values[start:end] for name, values in fields.items()})
        start = end
    return parts


class Batcher:
    """Answers ``predict(records)`` calls, sharing one ``fields(records)`` call among those
    that wait at the same time, with at most ``max_rows`` records per call (the most one
    request may send, so the model never sees more than a single request could give it)."""

    def __init__(
        self, fields: Callable[[Sequence[Record]], Fields], offload: bool, max_rows: int
    ) -> None:
        self._fields = fields
        self._offload = offload
        self._max_rows = max_rows
        self._waiting: list[Waiting] = []
        self._busy = False  # a call is scheduled or running: it takes whoever waits
        # The task of the thread calls: the event loop holds a task only weakly.
        self._drainer: asyncio.Task[None] | None = None

    async def predict(self, records: Sequence[Record]) -> Fields:
        """The fields of ``records``, computed in one call with the other waiting ones'."""
        loop = asyncio.get_running_loop()
        waiting = Waiting(records, loop.create_future())
        self._waiting.append(waiting)
        if not self._busy:
            self._busy = True
            if self._offload:
                self._drainer = loop.create_task(self._drain_in_threads())
            else:
                loop.call_soon(self._drain)
        return await waiting.answer

    def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._next_batch()
                self._answer(batch, self._outcomes(batch))
        finally:
            self._busy = False

    async def _drain_in_threads(self) -> None:
        try:
            while self._waiting:
                batch = self._next_batch()
                self._answer(batch, await run_in_threadpool(self._outcomes, batch))
        finally:
            self._busy = False

    def _next_batch(self) -> list[Waiting]:
        """The longest run of waiting requests, oldest first, within ``max_rows`` records
        (always at least one request)."""
        taken = rows = 0
        for waiting in self._waiting:
            if taken and rows + len(waiting.records) > self._max_rows:
                break
            taken += 1
            rows += len(waiting.records)
        batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return batch

    def _outcomes(self, batch: list[Waiting]) -> list[Outcome]:
        """Each request's fields, from one call. Should that call fail, each request is
        called alone, so only the requests whose own records fail get the error."""
        try:
            fields = self._fields([record for waiting in batch for record in waiting.records])
        except Exception as error:
            if len(batch) == 1:
                return [error]
            return [self._alone(waiting.records) for waiting in batch]
        return [*split(fields, [len(waiting.records) for waiting in batch])]

    def _alone(self, records: Sequence[Record]) -> Outcome:
        try:
            return self._fields(records)
        except Exception as error:
            return error

    @staticmethod
    def _answer(batch: list[Waiting], outcomes: list[Outcome]) -> None:
        for waiting, outcome in zip(batch, outcomes):
            if waiting.answer.done():  # cancelled meanwhile: its client went away
                continue
            if isinstance(outcome, Exception):
                waiting.answer.set_exception(outcome)
            else:
                waiting.answer.set_result(outcome)
