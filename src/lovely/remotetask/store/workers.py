"""Workers and their leases.

A processor registers as a worker of its service.  Its jobs are leased to
it for as long as it shows signs of life: a heartbeat it commits every few
seconds.  A worker whose heartbeat is older than its lease time is taken
for dead, and any live worker puts its jobs back in the queue.

Time is read from the database, not from the machines' clocks: a commit's
transaction id is a timestamp given by the storage (the ZEO server, the
PostgreSQL server of RelStorage), so every worker compares heartbeats on
one clock and a skewed machine neither steals live jobs nor keeps dead
ones.

Each worker's record is written by that worker alone, and its parts are
split by writer so that writers do not conflict: the heartbeat by the
worker's lease keeper, the jobs it holds by its processor threads (whose
concurrent changes merge).
"""
import os
import socket
import time
import uuid

from ZODB.POSException import ConflictError

from lovely.remotetask.store.stamps import tidTime
from lovely.remotetask.store.versioning import Versioned


def newWorkerId() -> str:
    """A name for a worker: where it runs, and unique."""
    return f'{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}'


def mergeHeld(old: dict, committed: dict, new: dict) -> dict:
    """Merge two concurrent changes of the jobs a worker holds (job id to
    attempt): keep what neither side released, add what either took."""
    merged = {jobid: attempt for jobid, attempt in old.items()
              if jobid in committed and jobid in new}
    for side in (committed, new):
        for jobid, attempt in side.items():
            if jobid in old:
                continue
            if merged.setdefault(jobid, attempt) != attempt:
                raise ConflictError(f'job {jobid} taken twice')
    return merged


class Heartbeat(Versioned):
    """Written to show that the worker lives; its serial says when."""

    beats = 0

    def __init__(self) -> None:
        pass

    @property
    def lastSeen(self) -> float:
        return tidTime(self._p_serial)


class HeldJobs(Versioned):
    """The jobs a worker holds, by id, with the attempt it holds.

    When the worker is taken for dead (or leaves), its record goes and
    this object is marked `gone` in the same transaction: a claim for the
    worker that commits at the same time then conflicts, instead of
    leaving a job held by a worker no one knows.
    """

    gone = False

    def __init__(self) -> None:
        self.jobs = {}

    def _p_resolveConflict(self, old, committed, new):
        for side, other in ((committed, new), (new, committed)):
            if side.get('gone') and not old.get('gone') and \
                    set(other['jobs']) - set(old['jobs']):
                raise ConflictError('jobs held by a worker taken for dead')
        return dict(new, jobs=mergeHeld(
            old['jobs'], committed['jobs'], new['jobs']),
            gone=bool(committed.get('gone') or new.get('gone')))


class WorkerRecord(Versioned):
    """What the service knows of one worker."""

    #: How many tasks past their time limits keep it from taking jobs of
    #: tasks with time limits (0: none do; see `SimpleProcessor.accepts`).
    stalled = 0
    #: (queues, tasks) it takes jobs of: names, or None for any (as a
    #: worker that did not say is taken to).
    serves = (None, None)

    def __init__(self, workerId: str, leaseTime: float) -> None:
        self.id = workerId
        self.leaseTime = leaseTime
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started = time.time()
        self.heartbeat = Heartbeat()
        self.held = HeldJobs()

    def hold(self, jobid: int, attempt: int) -> None:
        jobs = dict(self.held.jobs)
        jobs[jobid] = attempt
        self.held.jobs = jobs

    def release(self, jobid: int) -> None:
        if jobid in self.held.jobs:
            jobs = dict(self.held.jobs)
            del jobs[jobid]
            self.held.jobs = jobs

    def leave(self) -> None:
        """Mark the worker gone (its record is about to be removed): a claim
        for it at the same time conflicts."""
        self.held.gone = True

    def heldJobs(self) -> dict:
        return dict(self.held.jobs)

    def takes(self, queue: str, task: str) -> bool:
        """Whether it takes jobs of `task` in `queue`, as it last said."""
        queues, tasks = self.serves
        return (queues is None or queue in queues) and \
            (tasks is None or task in tasks)

    def expiresAt(self) -> float:
        """When the worker's leases run out, on the database's clock."""
        return self.heartbeat.lastSeen + self.leaseTime

    def __repr__(self):
        return f'<WorkerRecord {self.id}>'
