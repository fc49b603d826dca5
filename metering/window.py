"""An open meter window held by this process: its id, its parent, and its heartbeat thread.

The heartbeat asks the host ledger for a tick every `heartbeat_s` (skipped when another window's tick
is recent: `Ledger.heartbeat`), so a long step's usage is recorded as it goes and a killed step keeps
it up to its last tick. A heartbeat that fails is logged (once per distinct error) and retried at the
next period; the step goes on. Closing stops the thread, then ticks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from metering.errors import MeterError

if TYPE_CHECKING:
    from metering.ledger import Ledger
    from warehouse.facts import FactBatch

log = logging.getLogger(__name__)
DEFAULT_HEARTBEAT_S = 10.0


def check_heartbeat(heartbeat_s: float) -> float:
    if not (isinstance(heartbeat_s, int | float) and 0 < heartbeat_s < float("inf")):
        raise MeterError(f"heartbeat_s must be a positive number of seconds, got {heartbeat_s!r}")
    return float(heartbeat_s)


class Window:
    def __init__(
        self, ledger: Ledger, window_id: str, parent_window_id: str | None, *, heartbeat_s: float
    ) -> None:
        self.ledger = ledger
        self.window_id = window_id
        self.parent_window_id = parent_window_id
        self.heartbeat_s = check_heartbeat(heartbeat_s)
        self.ended: str | None = None
        # the batches that price this window (metering.ledger), known once it is closed; None when
        # another tick ended it first (its root gone) or the close failed
        self.batch_ids: list[str] | None = None
        self.opened_batch: FactBatch | None = None  # the opening tick's batch (set by Ledger.window)
        self.closed_batch: FactBatch | None = None  # the closing tick's batch, once closed here
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"meter-heartbeat-{window_id[:8]}", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        last_error = ""
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.ledger.heartbeat(self.heartbeat_s)
                last_error = ""
            except Exception as err:  # logged, retried next period: metering never kills the step
                if str(err) != last_error:
                    log.warning("meter heartbeat of window %s failed: %s", self.window_id, err)
                last_error = str(err)

    def close(self, facts: Sequence[Any] = ()) -> str | None:
        """Stop the heartbeat and close the window at a tick (`facts`, if any, published in that tick's
        batch: `closed_batch`). Returns 'closed' (or 'lost'/None when the ledger had already ended it).
        Closing twice is a no-op."""
        if self._stop.is_set():
            return self.ended
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=max(5.0, self.heartbeat_s))
        out = self.ledger.tick(closes=[self.window_id], facts=facts)
        self.closed_batch = None if out is None else out.batch
        self.ended = None if out is None else out.ended.get(self.window_id)
        if out is not None and self.window_id in out.ended_batch_ids:
            self.batch_ids = out.ended_batch_ids[self.window_id]
        return self.ended

    def __enter__(self) -> Window:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
