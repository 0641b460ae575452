"""Task ``backtest.run``: judge a chunk of backtest items (ids only in messages).

It runs on the ``backtest`` queue, which the live inference workers never consume, so a long
backtest cannot delay live moderation.
"""

from __future__ import annotations

import logging
from typing import Any

from moderation.inference.types import EngineUnavailable
from moderation.outbox.queues import BACKTEST_TASK
from moderation.policies.backtest_flow import run_backtest_items_flow
from moderation.storage.blobs import BlobStoreUnavailable
from workers import runtime
from workers.app import app

log = logging.getLogger(__name__)


# an inference server outage is waited out, however long: nothing of the chunk is recorded
ENGINE_RETRY_MAX_S = 60


@app.task(
    bind=True,
    name=BACKTEST_TASK,
    # model errors are recorded on the items; what escapes is infrastructure (database,
    # blob store): retry, which is harmless because finished items are never judged again
    autoretry_for=(Exception,),
    retry_backoff=5,
    max_retries=5,
)
def run(self: Any, item_ids: list[int]) -> int:
    """Judge the items under the draft and the baseline; results go to the items only."""
    ids = [int(i) for i in item_ids]
    try:
        done = run_backtest_items_flow(runtime.flow_context(), runtime.engine(), ids)
    except (EngineUnavailable, BlobStoreUnavailable) as exc:
        delay = min(ENGINE_RETRY_MAX_S, 5 * 2**self.request.retries)
        log.warning("engine or blob store unavailable; chunk again in %d s: %s", delay, exc)
        raise self.retry(exc=exc, countdown=delay, max_retries=None) from exc
    runtime.heartbeat()
    log.info("backtest chunk done: %d of %d items judged now", done, len(ids))
    return done
