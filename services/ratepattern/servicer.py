"""gRPC RatePatternService over the in-memory engine: decode, ask the domain, encode.

Account profiles requested concurrently are computed together (`RatePatternEngine.account_profiles`):
a profile costs ~1.4 ms of CPU alone, mostly per call, so at hundreds of requests per second one at a
time they would take most of the worker's event loop from the pipeline. Requests that arrive while the
loop is busy (a slice of a batch being applied) are answered by one evaluation as soon as it is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import grpc

from distillguard.v1 import ratepattern_pb2, ratepattern_pb2_grpc
from ratepattern.domain import RatePatternEngine

Context = grpc.aio.ServicerContext[Any, Any]
MAX_TEMPLATES = 500


class CallsInFlight:
    """The API's calls being answered, so that ingestion can give way to them (queries before ingestion).

    Every servicer method runs inside `serving()`. The processor, between slices of a batch, calls
    `give_way(max_wait_s)`: if the API was called within the last `recent_s`, it lets calls that arrived
    during the slice reach their handlers (a short sleep: an arriving call takes a few event-loop turns
    before its handler runs) and then waits until none is in flight, at most `max_wait_s`. Without API
    traffic it costs nothing. So a call waits for at most one slice of ingestion, and under sustained load
    ingestion slows down (the backlog waits in Kafka) instead of the answers.

    `recent_s` is long on purpose: the processor also cuts short slices only while `recent()`, and a
    call counts from when its handler starts, which takes a few event-loop turns. With a short memory,
    a stretch of slow slices could starve handlers past it, which lengthens the slices, which starves
    them further (p99 0.5 s at 500 calls/s with 1 s, 0.1 s with 10 s; docs/benchmarks.md).
    """

    def __init__(self, recent_s: float = 10.0, arrival_s: float = 0.001) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_call = -float("inf")
        self._recent_s = recent_s
        self._arrival_s = arrival_s

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        self.count += 1
        self._idle.clear()
        self._last_call = time.monotonic()
        try:
            yield
        finally:
            self.count -= 1
            if not self.count:
                self._idle.set()

    def recent(self) -> bool:
        """Whether the API was called within the last `recent_s`."""
        return time.monotonic() - self._last_call <= self._recent_s

    async def give_way(self, max_wait_s: float) -> None:
        if not self.recent():
            return
        await asyncio.sleep(self._arrival_s)
        if self.count:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), max_wait_s)


class ProfileBatcher:
    """Coalesces account-profile lookups into one vectorized evaluation.

    An evaluation costs about 1 ms whatever the number of accounts plus ~0.2 ms per account (the
    features are computed for all of them at once), so answering each call on its own caps a
    worker at a few hundred calls per second. The first lookup opens a window of `window_s`; every
    lookup made until it closes (or until `max_batch` are waiting) is answered by one evaluation.
    The window adds at most `window_s` to a call's latency.
    """

    def __init__(self, engine: RatePatternEngine, window_s: float = 0.005, max_batch: int = 256) -> None:
        self.engine = engine
        self.window_s = window_s
        self.max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[ratepattern_pb2.AccountProfile | None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self.evaluations = 0  # engine calls made (for tests and benchmarks)

    async def profile(self, account_id: str) -> ratepattern_pb2.AccountProfile | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ratepattern_pb2.AccountProfile | None] = loop.create_future()
        self._pending.append((account_id, future))
        if len(self._pending) >= self.max_batch:
            self._answer()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._answer)
        return await future

    def _answer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        self.evaluations += 1
        try:
            profiles = self.engine.account_profiles([account_id for account_id, _ in pending])
        except Exception as exc:  # fail every waiting call rather than leave them hanging
            for _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), profile in zip(pending, profiles):
            if not future.done():  # cancelled: the client went away
                future.set_result(profile)


class RatePatternServicer(ratepattern_pb2_grpc.RatePatternServiceServicer):
    def __init__(self, engine: RatePatternEngine, calls: CallsInFlight | None = None) -> None:
        self.engine = engine
        self.profiles = ProfileBatcher(engine)
        self.calls = CallsInFlight() if calls is None else calls

    async def GetAccountProfile(  # noqa: N802
        self, request: ratepattern_pb2.GetAccountProfileRequest, context: Context
    ) -> ratepattern_pb2.GetAccountProfileResponse:
        with self.calls.serving():
            if not request.account_id:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "account_id is required")
            profile = await self.profiles.profile(request.account_id)
            if profile is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no traffic seen for account {request.account_id!r}")
            return ratepattern_pb2.GetAccountProfileResponse(profile=profile)

    async def GetClusterProfile(  # noqa: N802
        self, request: ratepattern_pb2.GetClusterProfileRequest, context: Context
    ) -> ratepattern_pb2.GetClusterProfileResponse:
        with self.calls.serving():
            if not request.cluster_id:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "cluster_id is required")
            profile = self.engine.cluster_profile(request.cluster_id)
            if profile is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown cluster {request.cluster_id!r}")
            assert profile is not None
            return profile

    async def ListTemplates(  # noqa: N802
        self, request: ratepattern_pb2.ListTemplatesRequest, context: Context
    ) -> ratepattern_pb2.ListTemplatesResponse:
        with self.calls.serving():
            if request.min_accounts < 0:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "min_accounts must be >= 0")
            templates = self.engine.list_templates(int(request.min_accounts))
            return ratepattern_pb2.ListTemplatesResponse(templates=templates[:MAX_TEMPLATES])
