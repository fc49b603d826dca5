"""Writing a training process's facts off the training thread.

A fact batch is a directory of Parquet files, fsynced and renamed (warehouse/batches.py): about
16 ms on these machines, and a few hundred ms when the disk is busy. The training loop only hands
facts to a single writer thread, which publishes everything handed to it since its last write as one
batch. `flush()` waits until everything handed over is published (at train end and process exit).
A write that fails is logged once per distinct error, and its facts are kept for the next try: the
training goes on.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from warehouse.batches import write_batch
from warehouse.facts import FactBatch
from warehouse.home import FootprintHome

log = logging.getLogger(__name__)


class FactWriter:
    def __init__(self, home: FootprintHome) -> None:
        self.home = home
        self._pending: list[Any] = []
        self._busy = False
        self._closed = False
        self._last_error = ""
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, *facts: Any) -> None:
        """Queue facts (validated now, so a bad fact fails where it is made)."""
        FactBatch().add(*facts)
        with self._cond:
            self._pending.extend(facts)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="footprint-facts", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                facts, self._pending = self._pending, []
                self._busy = True
            try:
                write_batch(self.home, FactBatch().add(*facts))
                self._last_error = ""
            except Exception as err:  # logged; kept for the next write; the training goes on
                if str(err) != self._last_error:
                    log.warning("training facts could not be written (will retry): %s", err)
                self._last_error = str(err)
                with self._cond:
                    self._pending[:0] = facts
                    self._cond.wait(timeout=1.0)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every fact handed over is published; False if that took over `timeout_s`."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout=timeout_s)

    def close(self, timeout_s: float = 30.0) -> bool:
        """Flush, then stop the thread."""
        done = self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        return done
