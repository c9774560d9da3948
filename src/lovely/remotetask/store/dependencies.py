"""Jobs that wait for other jobs: what a job's end releases.

A waiting job (status ``waiting``) holds a `Barrier`: how many of the jobs
it waits for have not finished, and which of them failed or were
cancelled.  Each job that others wait for knows their ids.  When
a job finishes, `settle` counts it out in the barriers of its dependents,
in the same transaction as the outcome that finished it, and `decide`
releases each dependent whose barrier says so: into the queue, or
cancelled with the reason.  A job cancelled so finishes in turn, and
settles its own dependents.

Siblings that finish at once in several processes all write their
dependent's barrier: its conflict resolution adds the counts up and
refuses only a merge that reaches zero without either side having seen
zero, so that the release is never lost and happens once, and the other
completions do not conflict at all.

A job added to wait for jobs of the same transaction is written into
their dependents at once (they are new: no one else writes them).  For a
job already committed, another process may be finishing it at that very
moment, and the host's transaction must not fail for it: the drain
registers such dependents, in a transaction of its own, and counts each
move of the job it writes, so that it conflicts with a concurrent end of
that job and whichever commits second sees the other (see `Job._moves`).
"""
import time
from typing import Iterable, List, Optional

from ZODB.POSException import ConflictError
from ZODB.utils import z64

from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import (
    CANCELLED, COMPLETED, FINISHED, QUEUED, WAITING)
from lovely.remotetask.store.versioning import Versioned

#: What a waiting job does when one of the jobs it waits for fails or is
#: cancelled: is cancelled too (the default), runs anyway once all
#: finished, or runs at once, on the first failure (a batch's ``death``
#: callback; it is cancelled if none fails).
CANCEL, RUN, ON_FAILURE = 'cancel', 'run', 'failure'
POLICIES = (CANCEL, RUN, ON_FAILURE)


class Barrier(Versioned):
    """What a waiting job waits for: how many jobs have not finished, and
    which failed."""

    #: Ids of the jobs waited for that ended in error or were cancelled.
    failed = ()
    #: Ids of jobs waited for only to come after them: however they end,
    #: it counts as done (a nested batch's callbacks).
    soft = ()
    #: Whether jobs may still join (a batch's callbacks, until the batch
    #: is closed): nothing is released while open.
    open = False

    def __init__(self, remaining: int, policy: str = CANCEL) -> None:
        self.remaining = remaining
        if policy != CANCEL:
            self.policy = policy

    policy = CANCEL

    def count(self, jobid: int, ok: bool) -> None:
        self.remaining -= 1
        if not ok and jobid not in self.failed and jobid not in self.soft:
            self.failed += (jobid,)

    def reopen(self, jobid: int) -> None:
        """`jobid`, which had finished, will run again (it was retried)."""
        self.remaining += 1
        if jobid in self.failed:
            self.failed = tuple(one for one in self.failed if one != jobid)

    def close(self) -> None:
        self.open = False

    def _p_resolveConflict(self, old, committed, new):
        if committed.get('open', False) != new.get('open', False):
            # A close and a count at once: the count may be the one that
            # releases, which the close must see (and the other way round).
            raise ConflictError('a barrier closed while a job ended')
        o, c, n = (side.get('remaining', 0)
                   for side in (old, committed, new))
        remaining = c + n - o
        if remaining < 0 or remaining == 0 and c and n:
            # Neither side saw the last one finish: one must do it again.
            raise ConflictError('the last two jobs waited for ended at once')
        failed = set(old.get('failed', ()))
        for side in (committed, new):
            added = set(side.get('failed', ())) - failed
            removed = failed - set(side.get('failed', ()))
            failed = (failed | added) - removed
        # Soft ids are only ever added (nested batches opened at once).
        soft = tuple(old.get('soft', ()))
        for side in (committed, new):
            soft += tuple(one for one in side.get('soft', ())
                          if one not in soft)
        merged = dict(new, remaining=remaining)
        merged['failed'] = tuple(sorted(failed - set(soft)))
        merged['soft'] = soft
        for name in ('failed', 'soft'):
            if not merged[name]:
                del merged[name]
        return merged


class JobIds(Versioned):
    """The ids of the jobs a batch's callback waits for: jobs join an open
    batch from any transaction, and their ids merge."""

    def __init__(self, ids=()) -> None:
        self.ids = tuple(ids)

    def add(self, jobid: int) -> None:
        if jobid not in self.ids:
            self.ids += (jobid,)

    def _p_resolveConflict(self, old, committed, new):
        ids = list(committed['ids'])
        ids += [jobid for jobid in new['ids'] if jobid not in ids]
        return dict(new, ids=tuple(ids))


def isNew(job) -> bool:
    """Whether `job` was made in this transaction (never committed)."""
    return job._p_serial == z64


def wait(store, job, dependencies: Iterable, policy: str = CANCEL,
         open: bool = False) -> None:
    """Make the new `job` wait for `dependencies` (jobs), and while `open`
    for its barrier to be closed: it stays ``waiting`` until then, placed
    by the caller, who then calls `decideAll`."""
    dependencies = list(dependencies)
    job._barrier = Barrier(len(dependencies), policy)
    if open:
        job._barrier.open = True
    job._waitsFor = tuple(dependency.id for dependency in dependencies)
    later = []
    for dependency in dependencies:
        if dependency.status in FINISHED:
            job._barrier.count(dependency.id, dependency.status == COMPLETED)
        elif isNew(dependency):
            addDependent(dependency, job.id)
        else:
            later.append(dependency.id)
    if later:
        job._unregistered = tuple(later)
    _settling(store).append(job)


def addDependent(job, dependentId: int) -> None:
    """Note that `dependentId` waits for `job`: at once for a new job,
    else by the drain (`register`), where the move it counts makes a
    concurrent end of `job` conflict."""
    if dependentId not in job._dependents:
        job._dependents += (dependentId,)


def register(store, job) -> None:
    """Register the waiting `job` with the committed jobs it waits for
    (the drain's part: see the module's docstring)."""
    pending = job._unregistered
    del job._unregistered
    for jobid in pending:
        dependency = store.get(jobid)
        if dependency is None or dependency.status in FINISHED:
            ok = dependency is not None and dependency.status == COMPLETED
            job._barrier.count(jobid, ok)
            _settling(store).append(job)
        else:
            addDependent(dependency, job.id)
            dependency._moves += 1


def settle(store, job) -> None:
    """Count the finished `job` out in the barriers of its dependents, and
    release those whose barriers say so."""
    if job._dependents:
        ok = job.status == COMPLETED
        for jobid in job._dependents:
            dependent = store.get(jobid)
            if dependent is not None and dependent._barrier is not None:
                dependent._barrier.count(job.id, ok)
                _settling(store).append(dependent)
    decideAll(store)


def release(store, job) -> None:
    """Release `job` if its barrier says so (it changed by hand)."""
    _settling(store).append(job)
    decideAll(store)


def _settling(store) -> list:
    """The waiting jobs whose barriers changed in this transaction."""
    found = store.__dict__.get('_v_settling')
    if found is None:
        found = store._v_settling = []
    return found


def decideAll(store) -> None:
    """Decide each waiting job whose barrier changed, and those their
    release finishes in turn: in a loop, not recursively, for long chains
    of waiting jobs."""
    if store.__dict__.get('_v_deciding'):
        return
    store._v_deciding = True
    try:
        settling = _settling(store)
        while settling:
            decide(store, settling.pop(0))
    finally:
        store._v_deciding = False


def decide(store, job, now: Optional[float] = None) -> Optional[str]:
    """Release the waiting `job` if its barrier says so: into the queue,
    or cancelled with the reason; return its new status, or None."""
    if job.status != WAITING or job._barrier.open:
        return None
    barrier = job._barrier
    policy = barrier.policy
    if barrier.failed and policy == CANCEL:
        return _cancel(store, job, _failure(store, barrier.failed[0]), now)
    if policy == ON_FAILURE:
        if barrier.failed:
            store.move(job, QUEUED)
            return QUEUED
        if barrier.remaining <= 0:
            return _cancel(store, job, 'none of the jobs it watched failed',
                           now)
        return None
    if barrier.remaining <= 0:
        store.move(job, QUEUED)
        return QUEUED
    return None


def _failure(store, jobid: int) -> str:
    dependency = store.get(jobid)
    if dependency is None:
        return f'job {jobid}, which it waited for, was removed'
    if dependency.status == CANCELLED:
        return f'job {jobid}, which it waited for, was cancelled'
    return f'job {jobid}, which it waited for, failed'


def _cancel(store, job, reason: str, now) -> str:
    job.error = reason
    job.completed = time.time() if now is None else now
    if job._barrier.failed:
        job._cancelledBy = job._barrier.failed[0]
    store.move(job, CANCELLED)
    return CANCELLED


def reopen(store, job) -> List[object]:
    """`job`, which had finished, runs again (it was retried): count it
    back in the barriers of its dependents, and bring back to waiting
    those its failure cancelled, and theirs in turn; return those."""
    back, stack = [], [job]
    while stack:
        current = stack.pop()
        for jobid in current._dependents:
            dependent = store.get(jobid)
            if dependent is None or dependent._barrier is None:
                continue
            dependent._barrier.reopen(current.id)
            if dependent.status == CANCELLED and \
                    dependent._cancelledBy == current.id and \
                    not dependent._barrier.failed:
                for name in ('error', 'completed', '_cancelledBy'):
                    dependent.__dict__.pop(name, None)
                dependent._p_changed = True
                # Not `move`: that would reopen it again, recursively.
                store.take(dependent)
                store.place(dependent, WAITING)
                back.append(dependent)
                stack.append(dependent)
    return back


def dependencyCycle(store, jobid: int, waitsFor: Iterable[int]) -> bool:
    """Whether `jobid` is among `waitsFor` or the jobs they wait for,
    however far back: then making `jobid` wait for `waitsFor` would close
    a cycle."""
    seen, stack = set(), list(waitsFor)
    while stack:
        current = stack.pop()
        if current == jobid:
            return True
        if current in seen:
            continue
        seen.add(current)
        job = store.get(current)
        if job is not None:
            stack.extend(job.waitsFor)
    return False


def checkPolicy(policy) -> str:
    if policy not in POLICIES:
        raise InvalidArgumentError(
            f'onFailure is one of {", ".join(POLICIES)}, not {policy!r}')
    return policy
