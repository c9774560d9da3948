"""The persistent task service: the 2009 API over the store.

A service keeps its jobs in its store (`store.Store`), which owns every
move, count and listing; the service checks what it is asked, moves jobs
through the store, and says what happened (events, wake-ups of this
process's processors) once the transaction commits.  Its parts: adding
jobs (here), steering them (`steering`), looking at them (`looking`),
running them in the caller's transaction (`inplace`), and the steps of
processors (`protocol`).  Each part reaches the jobs only through the
store and the service's public methods.
"""
import types
from typing import Iterable, Optional

import zope.component
from zope.interface import classImplements, implementer

from lovely.remotetask import checks, interfaces, principals
from lovely.remotetask.defaults import WAIT_TIME
from lovely.remotetask.events import JobAdded, notifyOnCommit
from lovely.remotetask.exceptions import (
    InvalidArgumentError, UnknownTaskError)
from lovely.remotetask.interfaces import (
    CRONJOB, DELAYED, QUEUED, STARTLATER, WAITING)
from lovely.remotetask.pickling import checkStorable
from lovely.remotetask.runtime import processing
from lovely.remotetask.runtime.packing import checkPackEvery, checkPackKeep
from lovely.remotetask.runtime.processor import SimpleProcessor
from lovely.remotetask.service.batches import Batches
from lovely.remotetask.service.inplace import InPlace
from lovely.remotetask.service.looking import Looking
from lovely.remotetask.service.protocol import WorkerProtocol
from lovely.remotetask.service.queues import Queues
from lovely.remotetask.service.steering import Steering
from lovely.remotetask.service.undoing import Undoing
from lovely.remotetask.service.workflows import Workflows
from lovely.remotetask.store import dependencies
from lovely.remotetask.store.dependencies import CANCEL, JobIds, checkPolicy
from lovely.remotetask.store.search import checkTags
from lovely.remotetask.store.jobs import CronJob, Job
from lovely.remotetask.task import checkQueue, partitionOf
from lovely.remotetask.store.settings import Setting, setting
from lovely.remotetask.store.store import Store
from lovely.remotetask.store.versioning import Versioned

__all__ = ['TaskService']

#: The priorities a job may have.
PRIORITIES = range(-100, 101)


def checkPriority(priority) -> int:
    """Return `priority` if it is an int in PRIORITIES."""
    if isinstance(priority, bool) or not isinstance(priority, int) or \
            priority not in PRIORITIES:
        raise InvalidArgumentError(
            f'priority must be an int from {PRIORITIES.start} to '
            f'{PRIORITIES.stop - 1}, not {priority!r}')
    return priority


def checkKey(key):
    if key is not None and (isinstance(key, bool) or
                            not isinstance(key, (str, int))):
        raise InvalidArgumentError(
            f'a job key is a string or an int, not {key!r}')
    return key


@implementer(interfaces.ITaskService, interfaces.IWorkerProtocol)
class TaskService(Steering, Looking, Queues, Workflows, Batches, InPlace,
                  Undoing, WorkerProtocol, Versioned):

    __parent__ = __name__ = None
    #: What `startProcessing` runs, called as
    #: ``processorFactory(db, oid, name=..., **processorArguments)``.
    processorFactory = SimpleProcessor
    processorArguments = types.MappingProxyType({'waitTime': WAIT_TIME})

    keepFinished = setting(
        'keepFinished', 'Seconds finished jobs are kept; None keeps them '
        'until `clean`.', lambda value: checks.seconds(
            'keepFinished', value, noneMeans='to keep them until clean()'))
    maxStoredSize = setting(
        'maxStoredSize', 'The most bytes a job\'s input, result or error '
        'may take when stored.',
        lambda value: checks.whole('maxStoredSize', value))
    packEvery = setting(
        'packEvery', 'Seconds between packs of the database by the '
        'service\'s processors; None packs never.', checkPackEvery)
    packKeep = setting(
        'packKeep', 'Seconds of history the packs keep.', checkPackKeep)

    def __init__(self) -> None:
        self._store = Store()

    @property
    def _settings(self):
        return self._store.settings

    @property
    def jobs(self):
        """The jobs by id (see `JobMapping`)."""
        return JobMapping(self._store)

    def __repr__(self):
        return f'<{type(self).__name__} {self.__name__!r}>'

    def __setattr__(self, name, value):
        # Persistent marks an object changed on any attribute set, a
        # property's too: a setting changes the Settings object alone.
        attribute = getattr(type(self), name, None)
        if isinstance(attribute, Setting):
            attribute.__set__(self, value)
        else:
            super().__setattr__(name, value)

    # Adding jobs

    def getAvailableTasks(self) -> dict:
        return dict(zope.component.getUtilitiesFor(interfaces.ITask))

    def queryTask(self, name: str):
        return zope.component.queryUtility(interfaces.ITask, name=name)

    def add(self, task: str, input=None, startLater: bool = False, *,
            priority: int = 0, key=None, queue: Optional[str] = None,
            at: Optional[float] = None, deadline: Optional[float] = None,
            after: Optional[Iterable[int]] = None, onFailure: str = CANCEL,
            batch: Optional[int] = None,
            tags: Optional[Iterable[str]] = None) -> int:
        return self._add(task, input, startLater, priority=priority,
                         key=key, queue=queue, at=at, deadline=deadline,
                         after=after, onFailure=onFailure, batch=batch,
                         tags=tags)

    def _add(self, task, input=None, startLater=False, *, priority=0,
             key=None, queue=None, at=None, deadline=None, after=None,
             onFailure=CANCEL, batch=None, workflow=None,
             callback=None, tags=None) -> int:
        """`add`; and for a step of a workflow, its record; for a batch's
        callback, (its batch record, its policy)."""
        # Checked first, also when a job with `key` waits already: a call
        # that could not add its job is wrong whether or not it needs to.
        checkKey(key)
        priority = checkPriority(priority)
        tags = checkTags(tags)
        registered = self._checkTask(task, input)
        if queue is not None:
            checkQueue(queue)
        if at is not None:
            at = checks.moment(at, 'at')
        if deadline is not None:
            deadline = checks.moment(deadline, 'deadline')
        waitFor = None if after is None else self._dependencies(after)
        checkPolicy(onFailure)
        if sum(map(bool, (startLater, at is not None,
                          waitFor is not None or callback))) > 1:
            raise InvalidArgumentError(
                'a job waits for other jobs, for a time, or to be started '
                '(startLater): one of them')
        store = self._store
        if key is not None:
            existing = store.pendingWithKey(key)
            if existing is not None:
                return existing
        job = self._newJob(Job(None, task, input), priority)
        self._assign(job, registered, queue)
        if tags:
            job.tags = tags               # (indexed after the drain)
        if key is not None:
            job.key = key
            store.keys.set(key, job.id)
        if deadline is not None:
            job.deadline = deadline       # (indexed by the drain)
        if at is not None:
            job.scheduledFor = at
        if workflow is not None:
            job.workflow = workflow
        if callback is not None:
            job.batch, policy = callback
            dependencies.wait(store, job, (), policy, open=True)
            job._waitsFor = JobIds()
        elif waitFor is not None:
            dependencies.wait(store, job, waitFor, onFailure)
        self._placeNew(job, WAITING if job._barrier is not None else
                       STARTLATER if startLater else
                       DELAYED if at is not None else QUEUED)
        if batch is not None:
            self._joinBatch(job, batch)
        if job._barrier is not None:
            dependencies.decideAll(store)
        return job.id

    def _dependencies(self, after) -> list:
        """The jobs of the ids `after`, checked: known, once each, and not
        cron jobs (they do not finish)."""
        if isinstance(after, (int, str)) or not isinstance(
                after, Iterable):
            raise InvalidArgumentError(
                f'after is a list of job ids, not {after!r}')
        jobs = []
        for jobid in after:
            job = self._store.get(jobid)
            if job is None:
                raise InvalidArgumentError(
                    f'job {jobid!r} to wait for is unknown')
            if isinstance(job, CronJob) and job.recurring:
                raise InvalidArgumentError(
                    f'job {jobid} is a cron job: it does not finish, so '
                    f'nothing can wait for it')
            if job in jobs:
                raise InvalidArgumentError(
                    f'job {jobid} is given twice to wait for')
            jobs.append(job)
        return jobs

    def addCronJob(self, task: str, input=None, minute=(), hour=(),
                   dayOfMonth=(), month=(), dayOfWeek=(), delay=None, *,
                   cron=None, timezone=None, missed='once', graceTime=None,
                   overlap=False, priority: int = 0,
                   queue: Optional[str] = None) -> int:
        registered = self._checkTask(task, input)
        priority = checkPriority(priority)
        if queue is not None:
            checkQueue(queue)
        job = CronJob(None, task, input, minute, hour, dayOfMonth, month,
                      dayOfWeek, delay, cron=cron, timezone=timezone,
                      missed=missed, graceTime=graceTime, overlap=overlap)
        job = self._newJob(job, priority)
        self._assign(job, registered, queue)
        self._placeNew(job, CRONJOB if job.recurring else DELAYED)
        return job.id

    def startJob(self, jobid: int) -> bool:
        job = self._store.job(jobid)
        if job.status != STARTLATER:
            return False
        self._store.move(job, QUEUED)
        processing.wakeAfterCommit(self)
        return True

    def _newJob(self, job, priority):
        if priority:
            job.priority = priority
        principals.stampOwner(job)
        return self._store.newId(job)

    def _assign(self, job, registered, queue: Optional[str]) -> None:
        """Put a new job in its queue (the one given, else its task's) and
        its task's partition (see `SimpleTask`)."""
        queue = queue or getattr(registered, 'queue', None)
        if queue is not None and queue != job.queue:
            job.queue = queue
        partition = partitionOf(registered, job.input)
        if partition:
            job.partition = partition

    def _placeNew(self, job, status) -> None:
        store = self._store
        store.place(job, status)
        if status != STARTLATER:
            processing.wakeAfterCommit(self)
        notifyOnCommit(self, JobAdded(self, job.id))

    def _checkTask(self, task, input):
        """The task registered under `task`, checked with `input`."""
        registered = self.queryTask(task)
        if registered is None:
            raise UnknownTaskError(task)
        checkStorable(input, f'the input of task {task!r}',
                      self.maxStoredSize)
        return registered

    # Background processing

    def startProcessing(self, factory=None, **arguments) -> None:
        """See ITaskService; `factory` and `arguments` override
        `processorFactory` and `processorArguments` for this start."""
        processing.start(self, factory, **arguments)

    def stopProcessing(self, wait: float = 0) -> None:
        """See ITaskService; `wait` seconds (None: no limit) for the thread
        to finish the job in hand."""
        checks.seconds('wait', wait, noneMeans='to wait as long as it takes')
        processing.stop(self, wait)

    def isProcessing(self) -> bool:
        return processing.isRunning(self)


class JobMapping:
    """A read-only mapping of job id to job (`ITaskService.jobs`): every
    job, highest id first."""

    def __init__(self, store) -> None:
        self._store = store

    def get(self, jobid, default=None):
        job = self._store.get(jobid)
        return default if job is None else job

    def __getitem__(self, jobid):
        job = self._store.get(jobid)
        if job is None:
            raise KeyError(jobid)
        return job

    def __contains__(self, jobid) -> bool:
        return self._store.get(jobid) is not None

    def __len__(self) -> int:
        return sum(self._store.counts().values())

    def values(self):
        return self._store.jobsBelow()

    def items(self):
        return ((job.id, job) for job in self._store.jobsBelow())

    def keys(self):
        return (job.id for job in self._store.jobsBelow())

    __iter__ = keys

    def __repr__(self):
        return '<jobs>'


try:
    # Where zope.container is used: a service that says it knows where it
    # is kept is stored as it is, not wrapped in a ContainedProxy.
    from zope.location.interfaces import IContained
    classImplements(TaskService, IContained)
except ImportError:   # pragma: no cover - zope.location is optional
    pass
