"""Helpers shared by the benchmarks: percentiles, the machine, fresh databases, markdown tables.

Nothing here imports ``chat`` at module level, so a benchmark can set its
environment (``CHAT_ARGON2_PROFILE=fast``) before the first ``chat`` import.
"""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
BACKENDS = ("sqlite", "postgresql")


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Latency:
    """A summary of latencies, in milliseconds."""

    count: int
    p50: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99), statistics.fmean(ms), max(ms))


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed wall time in seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats get one decimal unless small."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "–"
            return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --- the machine -------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


async def postgres_version(url: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SHOW server_version")))
    finally:
        await engine.dispose()


def machine_info(pg_version: str | None = None) -> dict[str, str]:
    """What the figures were measured on (record it next to them)."""
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus (nproc)": str(os.cpu_count()),
        "cpu model": _cpu_model(),
        "memory": _memory_total(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    if pg_version is not None:
        info["postgresql"] = pg_version
    info["load average (1, 5, 15 min)"] = load_average()
    return info


def load_average() -> str:
    """Other processes share the cores: record how busy the machine was."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine_table(info: dict[str, str]) -> str:
    return markdown_table(["machine", ""], list(info.items()))


# --- fresh databases ---------------------------------------------------------------------


def sqlite_url(directory: Path, name: str = "salon.db") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


async def fresh_schema(url: str) -> None:
    """Migrate ``url`` from nothing: a PostgreSQL schema is dropped first; a SQLite file must be new."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from chat.store.migrate import upgrade

    engine = create_async_engine(url)
    try:
        if url.startswith("postgresql"):
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
    finally:
        await engine.dispose()


async def analyze(url: str) -> None:
    """Refresh planner statistics after a bulk load (what autovacuum / ``PRAGMA optimize`` would do later)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
