"""One background task that runs a job every interval: the audit checkpoints, the retention purge.

The job runs first at :meth:`Periodic.start`, then again each time ``sleep(interval_s)``
returns (``asyncio.sleep``; tests pass a sleep they control, so no test waits for time to
pass). The job logs its own failures: one that raises anyway is logged here and the
schedule goes on. :meth:`Periodic.close` cancels the task (the app's lifespan calls it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class Periodic:
    def __init__(
        self, job: Callable[[], Awaitable[Any]], interval_s: float, *, name: str, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.job = job
        self.interval_s = interval_s
        self.name = name
        self.sleep = sleep
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.job()
            except Exception:
                log.exception("%s failed; trying again in %s s", self.name, self.interval_s)
            await self.sleep(self.interval_s)
