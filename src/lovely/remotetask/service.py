"""The persistent task service: the jobs of an application, and their API.

A service keeps its jobs by id (`jobmap`), knows where each one waits
(`placement`), lists and counts them (`listing`), and offers processors
the steps by which they run jobs (`protocol`).  Everything it stores is
split by writer (`lanes`) or merges concurrent changes, so that
applications adding jobs from many threads and processes at once, and
workers claiming and recording them, never fail each other's
transactions; only two transactions moving the same job conflict.
"""
import logging
import time
import types
from typing import Optional

import zope.component
from zope.interface import classImplements, implementer

from lovely.remotetask import (
    checks, interfaces, legacy, placement, principals, processing)
from lovely.remotetask.autostart import (  # the seed had them here
    bootStrapSubscriber, getAutostartServiceNames)
from lovely.remotetask.context import checkProgress
from lovely.remotetask.defaults import WAIT_TIME
from lovely.remotetask.events import JobAdded, JobCancelled, notifyOnCommit
from lovely.remotetask.exceptions import (
    InvalidArgumentError, JobStateError, RemoteTaskError, UnknownJobError,
    UnknownTaskError)
from lovely.remotetask.interfaces import (
    CANCELLABLE, CANCELLED, CRONJOB, DELAYED, ERROR, FINISHED, PROCESSING,
    QUEUED, STARTLATER)
from lovely.remotetask.job import CronJob, Job
from lovely.remotetask.jobmap import JobMap
from lovely.remotetask.inplace import InPlace
from lovely.remotetask.lanes import Lanes, ownLane
from lovely.remotetask.listing import Listing
from lovely.remotetask.packing import checkPackEvery, checkPackKeep
from lovely.remotetask.pickling import checkStorable
from lovely.remotetask.processor import SimpleProcessor
from lovely.remotetask.protocol import WorkerProtocol
from lovely.remotetask.registry import KeyIndex, Registry
from lovely.remotetask.settings import (  # Settings: stored under this name
    Setting, Settings, setting)
from lovely.remotetask.versioning import Versioned

__all__ = ['TaskService', 'bootStrapSubscriber', 'getAutostartServiceNames']

log = logging.getLogger('lovely.remotetask')

#: Job ids are 31-bit so that they fit an XML-RPC <int>.
MAX_JOB_ID = 2**31 - 1

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


#: What a service of this version stores beside its jobs.
_STRUCTURES = ('_lanes', '_schedule', '_keys', '_settings')


@implementer(interfaces.ITaskService, interfaces.IWorkerProtocol)
class TaskService(Listing, InPlace, WorkerProtocol, Versioned):

    _stateVersion = 2
    _migrations = {0: legacy.markLegacy, 1: dict}
    #: Set on a service of the old layout until `legacy.migrate` moves it.
    _legacyLayout = False

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
        self._initState()
        self._makeStructures()

    def _makeStructures(self) -> None:
        """The stored structures of a new service, empty (`legacy`
        migrates an old service into them)."""
        self._lanes = Lanes()
        self.jobs = JobMap(self._lanes)
        self._schedule = placement.newSchedule()
        self._workers = Registry()
        self._keys = KeyIndex()
        self._settings = Settings()

    def __repr__(self):
        return f'<{type(self).__name__} {self.__name__!r}>'

    def __getattr__(self, name):
        # Only for attributes a service does not have: those of this
        # version, missing on a service of the old layout.
        if name in _STRUCTURES and self._legacyLayout:
            raise RemoteTaskError(
                f'{self!r} was stored by a development version of '
                f'lovely.remotetask before 1.0 and must be migrated: start '
                f'a worker for it, or run "remotetask migrate --db URI"')
        raise AttributeError(name)

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
            priority: int = 0, key=None) -> int:
        # Checked first, also when a job with `key` waits already: a call
        # that could not add its job is wrong whether or not it needs to.
        checkKey(key)
        priority = checkPriority(priority)
        self._checkTask(task, input)
        if key is not None:
            existing = self._pendingWithKey(key)
            if existing is not None:
                return existing
        lane = ownLane(self)
        job = Job(self.jobs.allocate(lane), task, input)
        principals.stampOwner(job)
        if priority:
            job.priority = priority
        self.jobs.store(job)
        if key is not None:
            job.key = key
            self._keys.set(key, job.id)
        placement.place(self, job, STARTLATER if startLater else QUEUED,
                        lane=lane)
        self._notify(JobAdded, job)
        return job.id

    def addCronJob(self, task: str, input=None, minute=(), hour=(),
                   dayOfMonth=(), month=(), dayOfWeek=(), delay=None, *,
                   cron=None, timezone=None, missed='once', graceTime=None,
                   overlap=False, priority: int = 0) -> int:
        self._checkTask(task, input)
        priority = checkPriority(priority)
        job = CronJob(0, task, input, minute, hour, dayOfMonth, month,
                      dayOfWeek, delay, cron=cron, timezone=timezone,
                      missed=missed, graceTime=graceTime, overlap=overlap)
        job.id = self.jobs.allocate(ownLane(self))
        principals.stampOwner(job)
        if priority:
            job.priority = priority
        self.jobs.store(job)
        placement.place(self, job, CRONJOB if job.recurring else DELAYED)
        self._notify(JobAdded, job)
        return job.id

    def startJob(self, jobid: int) -> bool:
        job = self._job(jobid)
        if job.status != STARTLATER:
            return False
        placement.move(self, job, QUEUED)
        return True

    def reschedule(self, jobid: int) -> None:
        job = self._job(jobid)
        if not isinstance(job, CronJob):
            raise JobStateError(f'job {jobid} is not a cron job')
        if job.status in (CRONJOB, DELAYED):
            job.scheduledFor = None
            placement.move(self, job, CRONJOB if job.recurring else DELAYED)
        elif job.recurring and job.status in (QUEUED, PROCESSING):
            # The run that is due already stays; the times to come are
            # computed anew once it is done.
            job.scheduledFor = None
        elif not job.recurring and job.status == QUEUED:
            job.scheduledFor = None
            placement.move(self, job, DELAYED)
        else:
            raise JobStateError(
                f'job {jobid} is {job.status} and cannot be rescheduled')

    # Steering jobs

    def cancel(self, jobid: int) -> None:
        job = self._job(jobid)
        if job.status == CANCELLED:
            return
        if job.status == PROCESSING:
            job.stopRequested = True
            processing.requestStopAfterCommit(self, jobid)
            return
        if job.status not in CANCELLABLE:
            raise JobStateError(
                f'job {jobid} is {job.status} and cannot be cancelled')
        job.completed = time.time()
        placement.take(self, job)
        self._finish(job, CANCELLED, JobCancelled)

    def retry(self, jobid: int) -> None:
        """Run a failed or cancelled job again, as a new attempt of the
        same job: its retry policy counts attempts anew, and a cron job
        goes back to its schedule."""
        job = self._job(jobid)
        if job.status not in (ERROR, CANCELLED):
            raise JobStateError(
                f'job {jobid} is {job.status}: only failed and cancelled '
                f'jobs are retried')
        if job.key is not None:
            holder = self._pendingWithKey(job.key)
            if holder is not None:
                raise JobStateError(
                    f'job {holder} with the same key {job.key!r} waits or '
                    f'runs')
            self._keys.set(job.key, job.id)
        job.retryBase = job.attempts
        job.error = None
        if isinstance(job, CronJob):
            job.scheduledFor = None
            placement.move(self, job, CRONJOB if job.recurring else DELAYED)
        else:
            placement.move(self, job, QUEUED)

    def retryAll(self, status: str = ERROR, task: Optional[str] = None,
                 limit: int = 100) -> int:
        """Retry up to `limit` jobs of `status` (error or cancelled), of
        `task` if given, the oldest first; return how many.  To retry all,
        call it in one transaction after another, until it returns less
        than `limit` or as many times as there were such jobs to begin with:
        jobs that fail again meanwhile come back to the same status."""
        if status not in (ERROR, CANCELLED):
            raise InvalidArgumentError(
                f'only error and cancelled jobs are retried, not {status!r}')
        checks.whole('limit', limit)
        retried = 0
        for jobid in placement.ids(self, status):
            if retried == limit:
                break
            job = self.jobs[jobid]
            if (task is None or job.task == task) and (
                    job.key is None or self._pendingWithKey(job.key) is None):
                self.retry(jobid)     # to the queue: the walk goes on past it
                retried += 1
        return retried

    def pauseJob(self, jobid: int, paused: bool = True) -> None:
        """Pause a cron job (its runs are skipped), or resume it."""
        job = self._job(jobid)
        if not isinstance(job, CronJob) or not job.recurring:
            raise JobStateError(f'job {jobid} is not a cron job')
        job.paused = bool(paused)

    def runNow(self, jobid: int) -> int:
        """Queue a run of a cron job now, besides its schedule; return the
        id of the job that runs."""
        job = self._job(jobid)
        if not isinstance(job, CronJob) or not job.recurring or \
                job.status != CRONJOB:
            raise JobStateError(
                f'job {jobid} is {job.status}, not a waiting cron job')
        run = self._newRun(job)
        placement.place(self, run, QUEUED)
        return run.id

    def pause(self) -> None:
        """Stop every processor from claiming this service's jobs."""
        self._settings.paused = True

    def resume(self) -> None:
        self._settings.paused = False
        processing.wakeAfterCommit(self)

    def isPaused(self) -> bool:
        return self._settings.paused

    def clean(self, status=FINISHED, limit=None) -> int:
        """See ITaskService; with a `limit`, remove at most that many (the
        oldest first), to clean a large service in several transactions."""
        statuses = (status,) if isinstance(status, str) else tuple(status)
        wrong = [s for s in statuses if s not in FINISHED]
        if wrong:
            raise InvalidArgumentError(
                f'clean() removes only {", ".join(FINISHED)} jobs, '
                f'not {", ".join(map(repr, wrong))}')
        if limit is not None:
            checks.whole('limit', limit)
        return self._removeFinished(sorted(set(statuses)), limit)

    # Looking at jobs

    def getStatus(self, jobid: int) -> str:
        return self._job(jobid).status

    def getResult(self, jobid: int):
        return self._job(jobid).output

    def getError(self, jobid: int):
        return self._job(jobid).error

    def setProgress(self, jobid: int, fraction: float, message: str = ''):
        """Store how far a job got; tasks call `context.reportProgress`."""
        checkProgress(fraction, message)
        self._job(jobid).progress = (float(fraction), message, time.time())

    def getProgress(self, jobid: int):
        """The last progress a job reported: a dict of fraction, message
        and time, or None."""
        reported = self._job(jobid).progress
        if reported is None:
            return None
        return dict(zip(('fraction', 'message', 'time'), reported))

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

    # Bookkeeping

    def _job(self, jobid):
        job = self.jobs.get(jobid)
        if job is None:
            raise UnknownJobError(jobid)
        return job

    def _checkTask(self, task, input):
        if self.queryTask(task) is None:
            raise UnknownTaskError(task)
        checkStorable(input, f'the input of task {task!r}',
                      self.maxStoredSize)

    def _pendingWithKey(self, key):
        """The id of the job added with `key` that waits or runs, if any."""
        jobid = self._keys.get(key)
        if jobid is None:
            return None
        job = self.jobs.get(jobid)
        if job is None or job.status in FINISHED:
            return None
        return jobid

    def _notify(self, event, job):
        notifyOnCommit(self, event(self, job.id))


try:
    # Where zope.container is used: a service that says it knows where it
    # is kept is stored as it is, not wrapped in a ContainedProxy.
    from zope.location.interfaces import IContained
    classImplements(TaskService, IContained)
except ImportError:   # pragma: no cover - zope.location is optional
    pass
