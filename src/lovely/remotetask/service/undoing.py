"""What a job changed, and undoing it (issue 29).

A job's transaction holds the task's writes and the job's own outcome.
Undoing that whole transaction with `DB.undo` would also put the job back
in hand and its store's structures where they were, and would be refused
as soon as any later job touched them; so the undo here restores only the
application's objects the attempt listed (see `runtime.changes`), each to
its state before the job's transaction, in a transaction of the caller's.
It is refused, naming the object, when a later transaction changed one of
them, as ZODB's own undo would be.
"""
import time

from ZODB.POSException import POSKeyError
from ZODB.utils import repr_to_oid

from lovely.remotetask.exceptions import UndoRefusedError
from lovely.remotetask.interfaces import COMPLETED
from lovely.remotetask.runtime.changes import marker


class Undoing:
    """`getChanges` and `undoJob`, for `TaskService`."""

    def getChanges(self, jobid: int) -> tuple:
        return self._store.job(jobid).changes

    def undoJob(self, jobid: int) -> int:
        job = self._store.job(jobid)
        found = job.changes
        if not found:
            raise UndoRefusedError(
                f'job {jobid} changed no objects of the application: there '
                f'is nothing to undo')
        last = found[-1]
        attempt = last['attempt']
        if job.status != COMPLETED and not getattr(job, 'recurring', False):
            raise UndoRefusedError(
                f'job {jobid} is {job.status}: only a completed job can be '
                f'undone')
        if last['undone'] is not None:
            raise UndoRefusedError(
                f'job {jobid} attempt {attempt} was undone already')
        if last['more']:
            raise UndoRefusedError(
                f'job {jobid} changed {len(last["objects"]) + last["more"]} '
                f'objects, more than the {len(last["objects"])} it keeps a '
                f'record of: it cannot be undone from that record')
        jar = self._p_jar
        storage = jar.db().storage if jar is not None else None
        if storage is None or not jar.db().supportsUndo():
            raise UndoRefusedError(
                f'job {jobid} cannot be undone: the storage keeps no history '
                f'of past transactions')
        states = _statesBefore(storage, last['objects'],
                               marker(self, jobid, attempt), jobid)
        for oid, data in states:
            _restore(jar, oid, data)
        jar.transaction_manager.get().note(
            f'lovely.remotetask: undo of job {jobid} attempt {attempt}')
        job.markUndone(attempt, time.time())
        return len(states)


def _statesBefore(storage, objects, line: str, jobid: int) -> list:
    """(oid, pickle before the job's transaction) of each object that
    existed before it; refused when another transaction changed one
    since."""
    states = []
    for change in objects:
        oid = repr_to_oid(change['oid'])
        named = f'{change["path"] or change["class"]} (oid {change["oid"]})'
        try:
            latest = storage.history(oid, size=1)
        except POSKeyError:
            raise UndoRefusedError(
                f'job {jobid} cannot be undone: {named} is no longer in the '
                f'database (a pack removed it)') from None
        if not latest or line not in _lines(latest[0].get('description')):
            when = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(
                latest[0]['time'])) if latest else 'a later time'
            raise UndoRefusedError(
                f'job {jobid} cannot be undone: {named} was changed by a '
                f'later transaction ({when}); undoing would lose that change')
        if change.get('new'):
            continue   # created by the job: unreachable once undone
        before = storage.loadBefore(oid, latest[0]['tid'])
        if before is None:
            raise UndoRefusedError(
                f'job {jobid} cannot be undone: the state of {named} '
                f'before it is gone (the database was packed since)')
        states.append((oid, before[0]))
    return states


def _lines(description) -> list:
    if isinstance(description, bytes):
        description = description.decode('utf-8', 'replace')
    return (description or '').splitlines()


def _restore(jar, oid: bytes, data: bytes) -> None:
    """Give the object `oid` of `jar` the state pickled in `data`."""
    obj = jar.get(oid)
    obj._p_activate()
    obj.__setstate__(jar._reader.getState(data))
    obj._p_changed = True
