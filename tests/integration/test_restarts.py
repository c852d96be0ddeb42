"""Zero-downtime restarts: a holder owns the listening socket (as systemd does) and restarts the daemon under
a load of keep-alive requests and SSE streams from 24 concurrent clients. Not one request may fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.support.daemon import TEST_API_KEY
from tests.support.holder import SocketHolder
from tests.support.load import LoadResult, run_load, wait_for_progress

RESTARTS = 5


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sequential", "overlap"])
async def test_restarts_under_load_lose_nothing(tmp_path: Path, mode: str):
    holder = SocketHolder(tmp_path, settings={"server.drain_timeout": 10.0, "server.access_log": False})
    await trio.to_thread.run_sync(holder.start)
    restart = holder.restart_sequential if mode == "sequential" else holder.restart_overlap

    async def restarts(progress: LoadResult) -> None:
        for _ in range(RESTARTS):
            # Each generation serves real traffic before it is replaced.
            await wait_for_progress(progress, requests=200, streams=12)
            await trio.to_thread.run_sync(restart)
        await wait_for_progress(progress, requests=200, streams=12)

    try:
        result = await run_load(holder.url, {"authorization": f"Bearer {TEST_API_KEY}"},
                                requests=12, streams=12, during=restarts)
    finally:
        await trio.to_thread.run_sync(holder.close)

    assert result.failed == 0, dict(result.failures)
    assert result.ok >= 200 * (RESTARTS + 1) and result.streams_ok >= 12 * (RESTARTS + 1)
    assert holder.generation == RESTARTS + 1
    assert holder.exit_codes == [0] * (RESTARTS + 1)  # every generation drained and exited cleanly
