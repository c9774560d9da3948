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
from lovely.remotetask.runtime.attempt import Outcome

log = logging.getLogger('lovely.remotetask')


class Abandoned:
    """The tasks past their time limits that still run, counted so that
    their threads and connections stay bounded (see
    `SimpleProcessor.accepts`)."""

    def __init__(self, limit: int, name: str = 'remotetasks') -> None:
        self.limit = limit
        self.name = name
        self.count = 0
        self._lock = threading.Lock()
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
                        if self.count < self.limit:
                            self.blockedSince = None

        threading.Thread(target=counted, daemon=True, name=name).start()
        if finished.wait(timeLimit + STOP_GRACE):
            return True
        with self._lock:
            if finished.is_set():
                return True
            abandoned[0] = True
            self.count += 1
            if self.count >= self.limit and self.blockedSince is None:
                self.blockedSince = time.monotonic()
                log.critical(
                    'processor %s: %s tasks past their time limits still '
                    'run and hold a connection each; it takes no job of a '
                    'task with a time limit until one ends (the others go '
                    'on; restart the process to end them)', self.name,
                    self.count)
        return False

    def full(self) -> bool:
        return self.count >= self.limit


def runAlone(abandoned: Abandoned, claim, station) -> Optional[Outcome]:
    """Run a claim whose task has a time limit in a thread of its own, on
    a station of its own (`station()` makes it), recording what comes of
    it there; if the task does not stop at its limit, leave it to run on
    and return the outcome that says so."""
    jobid, limit = claim.jobid, claim.timeLimit

    def run():
        try:
            with station() as own:
                outcome = own.run(claim)
                if isinstance(outcome, Outcome):
                    own.record([outcome])
        except Exception:
            log.exception('job %s: unexpected error', jobid)

    if abandoned.run(f'remotetask-job-{jobid}', run, limit):
        return None
    log.error('job %s did not stop at its time limit of %s s; it is left '
              'running and its slot freed', jobid, limit)
    return Outcome(jobid, claim.attempt, error=(
        f'timed out after {limit:g} s (the task did not stop when asked; '
        f'what it records later is refused)'))
