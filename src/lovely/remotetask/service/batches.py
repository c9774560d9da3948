"""Batches: jobs grouped under callbacks that run once, when all have
finished (``onComplete``), when all succeeded (``onSuccess``), or as soon as
one failed for good (``onDeath``), as Sidekiq's batches do.

A batch's callbacks are waiting jobs (see `store.dependencies`) that wait
for each job of the batch and for the batch to be closed: they cannot run
while jobs may still join.  A batch made inside another is part of it:
its jobs count for the outer batch too, and the outer callbacks come after
the inner ones.
"""
import contextlib
from typing import Optional

from lovely.remotetask.exceptions import InvalidArgumentError, JobStateError
from lovely.remotetask.interfaces import COMPLETED, FINISHED
from lovely.remotetask.store import dependencies
from lovely.remotetask.store.dependencies import CANCEL, ON_FAILURE, RUN
from lovely.remotetask.store.workflowrecords import BatchRecord

#: The kinds of callbacks, and what each does when a job of its batch
#: fails (see `store.dependencies`).
CALLBACKS = {'complete': RUN, 'success': CANCEL, 'death': ON_FAILURE}


class Batches:
    """The batches part of `TaskService`."""

    def addBatch(self, onComplete=None, onSuccess=None, onDeath=None, *,
                 parent: Optional[int] = None) -> int:
        """Open a batch with the callbacks given, each a task name or
        (task, input); return its id.  Add jobs with ``add(...,
        batch=id)``, then `closeBatch`; or use `batch`.  In `parent` (a
        batch id), the batch is part of that batch."""
        given = {kind: callback for kind, callback in (
            ('complete', onComplete), ('success', onSuccess),
            ('death', onDeath)) if callback is not None}
        if not given:
            raise InvalidArgumentError(
                'a batch needs a callback: onComplete, onSuccess or onDeath')
        callbacks = {kind: _callback(kind, callback)
                     for kind, callback in given.items()}
        for kind, (task, input) in callbacks.items():
            self._checkTask(task, input)
        outer = None if parent is None else self._openBatch(parent)
        record = BatchRecord(outer)
        for kind, (task, input) in sorted(callbacks.items()):
            record.callbacks[kind] = self._add(
                task, input, callback=(record, CALLBACKS[kind]))
        if outer is not None:
            for ancestor in outer.lineage():
                for callbackId in ancestor.callbacks.values():
                    for inner in record.callbacks.values():
                        self._waitAlso(callbackId, self._store.job(inner),
                                       soft=True)
        return record.id

    @contextlib.contextmanager
    def batch(self, onComplete=None, onSuccess=None, onDeath=None, *,
              parent: Optional[int] = None):
        """A batch, closed at the end of the block::

            with service.batch(onSuccess='notify') as batch:
                for image in images:
                    batch.add('resize', image)
        """
        batchId = self.addBatch(onComplete, onSuccess, onDeath,
                                parent=parent)
        yield _Open(self, batchId)
        self.closeBatch(batchId)

    def closeBatch(self, batchId: int) -> None:
        """Let the callbacks of the batch run once its jobs finished: no
        job can join it after."""
        record = self._batchOf(batchId)
        if not record.open:
            return
        record.open = False
        for callbackId in record.callbacks.values():
            callback = self._store.job(callbackId)
            callback._barrier.close()
            dependencies.release(self._store, callback)

    def getBatch(self, batchId: int) -> dict:
        """The batch `batchId`: whether open, its callbacks (kind -> id and
        status), how many jobs it has and how many finished, succeeded and
        failed."""
        record = self._batchOf(batchId)
        first = self._store.job(min(record.callbacks.values()))
        members = [one for one in first.waitsFor
                   if one not in first._barrier.soft]
        counts = {'finished': 0, 'completed': 0, 'failed': 0}
        for one in members:
            job = self._store.get(one)
            if job is not None and job.status in FINISHED:
                counts['finished'] += 1
                counts['completed' if job.status == COMPLETED
                       else 'failed'] += 1
        return dict(
            id=record.id, open=record.open, size=len(members),
            parent=None if record.parent is None else record.parent.id,
            callbacks={kind: dict(id=one, status=self._store.job(one).status)
                       for kind, one in record.callbacks.items()},
            **counts)

    def _joinBatch(self, job, batchId: int) -> None:
        """Make the new `job` part of batch `batchId` and of the batches
        that batch is part of."""
        record = self._openBatch(batchId)
        job.batch = record
        record.size += 1
        for batch in record.lineage():
            for callbackId in batch.callbacks.values():
                self._waitAlso(callbackId, job)

    def _waitAlso(self, callbackId: int, job, soft: bool = False) -> None:
        """Make the callback `callbackId` wait for `job` too (new, in this
        transaction)."""
        callback = self._store.job(callbackId)
        barrier = callback._barrier
        barrier.reopen(job.id)
        if soft:
            barrier.soft += (job.id,)
        callback._waitsFor.add(job.id)
        dependencies.addDependent(job, callbackId)

    def _openBatch(self, batchId: int) -> BatchRecord:
        record = self._batchOf(batchId)
        if not record.open:
            raise JobStateError(
                f'batch {batchId} is closed: no job can join it')
        return record

    def _batchOf(self, batchId: int) -> BatchRecord:
        job = self._store.get(batchId)
        record = None if job is None else job.batch
        if record is None or record.id != batchId:
            raise InvalidArgumentError(f'there is no batch {batchId}')
        return record


def _callback(kind: str, callback) -> tuple:
    if isinstance(callback, str):
        return callback, None
    if isinstance(callback, tuple) and len(callback) == 2:
        return callback
    raise InvalidArgumentError(
        f'the {kind} callback is a task name or (task, input), not '
        f'{callback!r}')


class _Open:
    """A batch open in a `with` block."""

    def __init__(self, service, batchId: int) -> None:
        self.service, self.id = service, batchId

    def add(self, task: str, input=None, **options) -> int:
        return self.service.add(task, input, batch=self.id, **options)

    def batch(self, onComplete=None, onSuccess=None, onDeath=None):
        """A batch inside this one."""
        return self.service.batch(onComplete, onSuccess, onDeath,
                                  parent=self.id)
