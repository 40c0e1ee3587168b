"""The marks of Khaos's pulls written once Khaos has stopped pulling for a moment.

A pull logs what it served and leaves its documents' served marks pending
(served_marks.py). In a drain Khaos pulls again as soon as it has read an answer, so
the marks wait until it stops; then they are written a few pulls at a time, each in its
own short transaction under the feed's lock, so a pull that comes meanwhile waits for
one of those at most. Whatever is still pending when the channel stops is written by the
next reader or the target's next batch (they settle first), or after the next pull;
a channel stopping cleanly writes them first (`stop`), for up to STOP_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.engine import Engine

from target_khaos_control.served_marks import PULLS_AT_ONCE, settle

log = logging.getLogger("reveni_khaos.channel")
IDLE_SECONDS = 0.2  # no pull for this long: Khaos has stopped (in a drain it pulls again within milliseconds)
RETRY_SECONDS = 5.0  # after a failure (the store unreachable): the marks stay pending meanwhile
STOP_SECONDS = 10.0  # a stopping channel's time to write what is pending (the rest stays pending, never lost)


class MarksSettler:
    """One thread, started at the first pull, that writes the pending marks when Khaos is idle."""

    def __init__(self, engine: Engine) -> None:
        """Settle this store's pulls; nothing runs until a pull is logged."""
        self.engine = engine
        self.last_pull = time.monotonic()
        self.due = threading.Event()
        self.thread: threading.Thread | None = None
        self.start = threading.Lock()
        self.stopping = threading.Event()  # set by `stop`: wakes the thread from any wait
        self.written = 0  # pulls whose marks this pause has written so far

    def pulled(self) -> None:
        """A pull was logged with its marks pending: write them once Khaos pauses."""
        self.last_pull = time.monotonic()
        self.due.set()
        if self.thread is None:
            with self.start:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._run, name="marks-settler", daemon=True)
                    self.thread.start()

    def stop(self) -> None:
        """The channel is stopping: write what is pending now (for up to STOP_SECONDS), then end."""
        if self.thread is not None:
            self.stopping.set()
            self.due.set()
            self.thread.join(STOP_SECONDS)

    def _run(self) -> None:
        while True:
            self.due.wait()
            idle = time.monotonic() - self.last_pull
            if idle < IDLE_SECONDS and not self.stopping.is_set():
                self.stopping.wait(IDLE_SECONDS - idle)
                continue
            self.due.clear()  # before settling: a pull logged meanwhile sets it again
            try:
                with self.engine.begin() as conn:
                    settled = settle(conn, PULLS_AT_ONCE)
            except Exception:  # the marks stay pending in the store; readers settle them first
                if self.stopping.is_set():
                    return
                log.exception("writing the served marks of Khaos's pulls failed; trying again in %.0f s", RETRY_SECONDS)
                self.stopping.wait(RETRY_SECONDS)
                self.due.set()
                continue
            self.written += settled
            if settled == PULLS_AT_ONCE:  # maybe more
                self.due.set()
                continue
            if self.written:  # all written: once a pause, so a drain's end says what the marks took
                since = time.monotonic() - self.last_pull
                pulls = "pull" if self.written == 1 else "pulls"
                log.info(
                    "wrote the served marks of %d %s, all %.1f s after Khaos's last pull", self.written, pulls, since
                )
                self.written = 0
            if self.stopping.is_set():
                return
