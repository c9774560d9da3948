"""Running a task that has a time limit, and the tasks left past it.

A thread cannot be stopped from outside.  A task with a time limit runs in
a thread of its own, with a connection of its own, so that the processor
can go on when the task does not stop at its limit (it is asked to, see
`context`).  Such a task is left to run on, abandoned: `Abandoned` counts
them, so that the processor claims nothing while too many run on, and
their threads and connections stay bounded.
"""
import logging
import threading
import time
from typing import Callable, Optional

from lovely.remotetask.defaults import STOP_GRACE

log = logging.getLogger('lovely.remotetask')


class Abandoned:
    """The tasks past their time limits that still run, and a wait for
    fewer of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()
        self._fewer = threading.Condition(self._lock)
        #: Since when (time.monotonic()) there have been `limit` of them,
        #: or None.
        self.blockedSince: Optional[float] = None

    def run(self, name: str, run: Callable[[], None],
            timeLimit: float) -> bool:
        """Call `run()` in a thread of its own; return whether it returned
        within `timeLimit` and STOP_GRACE seconds, else count it abandoned
        until it does."""
        finished = threading.Event()
        abandoned = [False]

        def counted():
            try:
                run()
            finally:
                with self._lock:
                    finished.set()
                    if abandoned[0]:
                        self.count -= 1
                        self._fewer.notify_all()

        threading.Thread(target=counted, daemon=True, name=name).start()
        if finished.wait(timeLimit + STOP_GRACE):
            return True
        with self._lock:
            if finished.is_set():
                return True
            abandoned[0] = True
            self.count += 1
        return False

    def full(self) -> bool:
        return self.count >= self.limit

    def waitForRoom(self, running: Callable[[], bool], interval: float,
                    name: str) -> None:
        """Wait while `limit` tasks run on (and `running()`)."""
        with self._lock:
            if self.count < self.limit:
                return
            self.blockedSince = time.monotonic()
            log.critical(
                'processor %s: %s tasks past their time limits still run '
                'and hold a connection each; it claims no job until one '
                'ends (restart the process to end them)', name, self.count)
            while self.count >= self.limit and running():
                self._fewer.wait(interval)
            self.blockedSince = None
