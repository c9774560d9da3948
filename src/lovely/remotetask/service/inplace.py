"""Running jobs in the caller's transaction: the seed's API.

`process`, `processNext`, `claimNextJob` and `hasJobsWaiting` do in the
caller's own transaction what processors do in theirs: queue the
scheduled jobs due at `now` (a step of its own for processors, see
`protocol.promote`), claim, run and record.  Tests and hosts that run jobs
by hand use them.
"""
import time

import transaction

from lovely.remotetask.interfaces import PROCESSING
from lovely.remotetask.runtime import changes
from lovely.remotetask.runtime.attempt import runJob
from lovely.remotetask.store import scheduling


class InPlace:
    """The seed's way to run jobs, for `TaskService` (see ITaskService)."""

    def hasJobsWaiting(self, now=None) -> bool:
        now = time.time() if now is None else now
        return bool(self.queueLength()) or \
            scheduling.hasDue(self._store, now)

    def claimNextJob(self, now=None, worker=None):
        claimed = self.claimNextJobs(1, now, worker)
        return claimed[0] if claimed else None

    def claimNextJobs(self, limit: int, now=None, worker=None) -> list:
        """Claim up to `limit` ready jobs at once, in queue order, after
        queueing the scheduled jobs due at `now`."""
        self.promote(now)
        return [claim.jobid for claim in self.claim(worker, limit)]

    def processNext(self, now=None, jobid=None) -> bool:
        self.promote(now)
        if jobid is None:
            claims = self.claim(None, 1)
            if not claims:
                return False
            claim = claims[0]
        else:
            if self._store.job(jobid).status == PROCESSING:
                claim = self.claimed(jobid)     # claimed by claimNextJob()
            else:
                claim = self.claimJob(jobid)
        savepoint = _savepoint(self)
        since = changes.mark(self._p_jar) if self._p_jar else (0, 0)
        outcome = runJob(self, claim)
        if not outcome.ok and savepoint is not None:
            savepoint.rollback()  # undo what the failed task wrote
        elif outcome.ok and self._p_jar is not None:
            outcome = changes.taken(
                outcome, self, self._p_jar.transaction_manager.get(), since)
        self.recordOutcome(outcome, now)
        return True

    def process(self, now=None) -> None:
        while self.processNext(now):
            pass


def _savepoint(service):
    """A savepoint of the transaction that changes `service`, if all its
    resources allow."""
    jar = service._p_jar
    manager = jar.transaction_manager if jar is not None else \
        transaction.manager
    try:
        return manager.savepoint()
    except TypeError:
        return None
