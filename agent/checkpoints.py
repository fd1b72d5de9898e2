"""LangGraph's SQLite checkpointer, opened for a workspace that several processes share.

`checkpoints.db` holds each run's graph state after every step, so `deepstar runs
resume` continues where a run stopped. Two deepstar processes (two `research` runs,
`research` beside `eval`) write it at once: the connection waits up to `timeout_s` for
the other writer's lock (WAL, as LangGraph sets it) instead of failing at sqlite's 5 s
default. A file that is not a checkpoint database is a `StoreError` naming it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from agent.errors import StoreError

__all__ = ["has_checkpoint", "open_checkpointer"]


@asynccontextmanager
async def open_checkpointer(path: Path, *, timeout_s: float = 30.0) -> AsyncIterator[Any]:
    """An `AsyncSqliteSaver` on `path`, its tables set up (the connection closed after)."""
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(str(path), timeout=timeout_s)
    try:
        await conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
    except sqlite3.DatabaseError as exc:
        await conn.close()
        raise StoreError(f"the checkpoint store {path} is damaged ({exc}): interrupted runs cannot be resumed "
                         f"from it; move it away to run again (recorded steps stay in the trajectory store)") from None
    except BaseException:
        await conn.close()
        raise
    try:
        yield saver
    finally:
        await conn.close()


async def has_checkpoint(saver: Any, run_id: str) -> bool:
    """Whether the run's graph state was checkpointed (a resume has something to go on from)."""
    try:
        found = await saver.aget_tuple({"configurable": {"thread_id": run_id}})
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the checkpoint of run {run_id} cannot be read: {exc}") from None
    return found is not None
