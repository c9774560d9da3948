"""The contracts of lovely.remotetask.

The documentation of each method lives here; the implementations only say
which interface they provide.
"""
from zope.interface import Attribute, Interface

QUEUED = 'queued'
PROCESSING = 'processing'
CANCELLED = 'cancelled'
ERROR = 'error'
COMPLETED = 'completed'
DELAYED = 'delayed'
CRONJOB = 'cronjob'
STARTLATER = 'start later'
RETRY = 'retry'
WAITING = 'waiting'

#: Statuses of jobs that will not run again; `ITaskService.clean` removes them.
FINISHED = (COMPLETED, CANCELLED, ERROR)

#: Statuses from which `ITaskService.cancel` can take a job.
CANCELLABLE = (QUEUED, STARTLATER, DELAYED, CRONJOB, RETRY, WAITING)

#: Statuses of jobs that wait for a time.
SCHEDULED = (CRONJOB, DELAYED, RETRY)

#: Every status, in the order listings and counts show them.  The store
#: keeps its counts and chains by status name: a new status costs no
#: migration of stored data.
STATUSES = (QUEUED, PROCESSING, RETRY, WAITING, STARTLATER, DELAYED,
            CRONJOB) + FINISHED

#: Job ids are ints below 2**ID_BITS: they travel as XML-RPC <int>s.
ID_BITS = 31
MAX_JOB_ID = 2 ** ID_BITS - 1


class ITask(Interface):
    """A piece of work that jobs name; registered as a named utility.

    A task may carry a `retry` attribute (a `retry.RetryPolicy`) and a
    `timeLimit` in seconds; both are optional."""

    def __call__(service, jobid, input):
        """Do the work for job `jobid` of `service` and return its result.

        Raise `lovely.remotetask.task.TaskError` to fail the job with a
        message and no retry.  Any other exception fails the attempt; the
        job is retried until its attempts are used up.  The result must be
        picklable: it is stored on the job."""


class IJob(Interface):
    """One run of a task with an input, and what came of it."""

    id = Attribute('The job id, an int in [0, 2**31).')
    task = Attribute('The name of the task to run.')
    input = Attribute('The input given to the task.')
    status = Attribute('One of the status strings of this module.')
    output = Attribute('What the task returned, None until it completes.')
    # The last attempt's start, end and error are None from a retry or a
    # new attempt on: `history` keeps them, not the job as its own.
    error = Attribute('The message of the last failure, or None.')
    created = Attribute('When the job was added (epoch seconds).')
    started = Attribute('When the last attempt was claimed, or None.')
    completed = Attribute('When the job last finished, or None.')
    attempts = Attribute('How many times the job has been claimed.')
    priority = Attribute('Jobs of higher priority run first (-100 to 100).')
    key = Attribute('The unique key the job was added with, or None.')
    scheduledFor = Attribute(
        'When the job is due next (epoch seconds): the next attempt of a '
        'job waiting to be tried again (status retry), the next run of a '
        'cron job; None while it waits for the service to schedule it.')
    worker = Attribute('Who claimed it last (None: the caller\'s own).')
    history = Attribute(
        'The attempts made, newest last (at most job.HISTORY_LENGTH): dicts '
        'of attempt, worker, started, ended, error and traceback.')
    progress = Attribute('(fraction, message, time) of the last progress.')
    retryBase = Attribute('The attempts made before the job was last retried '
                          'by hand: its retry policy counts those since.')
    runs = Attribute('How often the task was called (conflicted runs too).')
    owner = Attribute('The id of the principal who added the job, where the '
                      'host knows one (see IPrincipalSource), or None.')
    queue = Attribute('The name of the queue the job waits in.')
    tags = Attribute('The tags it was added with, a tuple of strings.')


class ICronJob(IJob):
    """A job that runs on a schedule, or once after a delay."""

    minute = Attribute('Minutes (0-59) to run at; () leaves them free.')
    hour = Attribute('Hours (0-23) to run at; () leaves them free.')
    dayOfMonth = Attribute('Days of the month (1-31); () leaves them free.')
    month = Attribute('Months (1-12); () leaves them free.')
    dayOfWeek = Attribute('Days of the week, Monday is 0 (0-6).')
    delay = Attribute('Seconds to wait before a single run, or None.')
    cron = Attribute('The parsed cron expression (`cron.CronSpec`), or None '
                     'for a tuple schedule.')
    timezone = Attribute('The IANA zone a cron expression is read in; '
                         'tuple schedules count in UTC.')
    missed = Attribute("What to do with runs missed while nothing "
                       "processed: 'once' (one run for all), 'each' or "
                       "'skip'.")
    graceTime = Attribute('Seconds after which a missed run is skipped '
                          'whatever the policy, or None for no limit.')
    overlap = Attribute('Whether a run may start while the one before it is '
                        'still going (as a one-off job of its own).')
    nextRun = Attribute('The same as scheduledFor.')
    lastRun = Attribute('The due time of the last run queued, or None.')
    paused = Attribute('Whether its runs are skipped until it is resumed '
                       '(ITaskService.pauseJob).')

    def update(minute=(), hour=(), dayOfMonth=(), month=(), dayOfWeek=(),
               delay=None, *, cron=None, timezone=None, missed=None,
               graceTime=None, overlap=None):
        """Replace the schedule; raise ValueError for values out of range.

        The policies (`missed`, `graceTime`, `overlap`) stay as they are
        unless given.  The service keeps the old due time until
        `ITaskService.reschedule` is called.
        """

    def timeOfNextCall(now=None):
        """The first time after `now` the schedule fires, or None if never.

        A delayed job fires `delay` seconds after `now`.
        """


class ITaskService(Interface):
    """A persistent queue of jobs and the means to run them."""

    jobs = Attribute('A mapping of job id to job.')

    def getAvailableTasks():
        """Return a dict of the registered tasks, by name."""

    def queryTask(name):
        """Return the task registered under `name`, or None."""

    def add(task, input=None, startLater=False, *, priority=0, key=None,
            queue=None, at=None, deadline=None, after=None,
            onFailure='cancel', batch=None, tags=None):
        """Add a job that runs `task` with `input` and return its id.

        With `startLater` the job waits with status ``start later`` until
        `startJob` is called; with `at` (epoch seconds) it waits, delayed,
        until then.  Jobs of higher `priority` (-100 to 100) run first, in
        the order they came within a priority.  While a job added with the
        same `key` waits or runs, nothing is added and its id is returned.
        The job goes to `queue` (by default its task's, else ``default``).
        A job not started by its `deadline` (epoch seconds) is not run: it
        ends cancelled, with the reason.  With `after` (job ids), the job
        waits (status ``waiting``) until those jobs finished; if one
        fails or is cancelled, `onFailure` says what it does: ``cancel``
        (the default), ``run`` (anyway, once all finished) or ``failure``
        (run at once; cancelled if none fails).  `batch` is the id of an
        open batch the job joins (see `addBatch`); `tags`, short strings
        to find it by (see `jobsPage`).  Raise ValueError for an unknown
        task, an input that cannot be pickled, an argument out of range
        or a job of `after` that cannot be waited for; nothing is added.
        """

    def addWorkflow(workflow):
        """Add every step of a `Workflow` in this transaction (all or
        none); return the job id of each step, by name."""

    def addStep(jobid, name, task, input=None, *, after=(), before=(),
                **options):
        """Add a step to the workflow of job `jobid`: it waits for the
        steps named in `after`, and the waiting steps of `before` wait for
        it too.  Return its id."""

    def getWorkflow(jobid):
        """The workflow of job `jobid`: id, name, status, counts and steps
        (name, id, task, status, after, error)."""

    def cancelWorkflow(jobid):
        """Cancel every unfinished step of the workflow of `jobid`."""

    def retryWorkflow(jobid):
        """Retry the failed steps of the workflow of `jobid`; the steps
        their failure cancelled wait again."""

    def getDependencyResults(jobid):
        """The results of the completed jobs `jobid` waited for: by step
        name in a workflow, else by id."""

    def addBatch(onComplete=None, onSuccess=None, onDeath=None, *,
                 parent=None):
        """Open a batch with callbacks (task names or (task, input)) that
        run once: when all its jobs finished, all succeeded, or the first
        failed for good; return its id."""

    def batch(onComplete=None, onSuccess=None, onDeath=None, *,
              parent=None):
        """A context manager: a batch whose ``add`` adds jobs to it,
        closed at the end of the block."""

    def closeBatch(batchId):
        """Close a batch: no job joins it after, and its callbacks run once
        its jobs finished."""

    def getBatch(batchId):
        """A batch: open, size, finished, completed, failed, callbacks."""

    def addCronJob(task, input=None, minute=(), hour=(), dayOfMonth=(),
                   month=(), dayOfWeek=(), delay=None, *, cron=None,
                   timezone=None, missed='once', graceTime=None,
                   overlap=False, priority=0, queue=None):
        """Add a job that runs on a schedule (or once after `delay` seconds).

        Each tuple restricts one calendar field, in UTC.  Fields left empty
        are free, except those finer than the finest field given, which are
        pinned to their first value: ``hour=(2,)`` runs at 02:00 only.
        Instead of tuples, `cron` takes a five-field cron expression, read
        in the IANA zone `timezone` (UTC by default).  `missed`, `graceTime`
        and `overlap` say what happens to runs missed while nothing
        processed and to runs that come due while the last one still runs.
        The job is scheduled relative to the ``now`` of the first processing
        that sees it.  Raise ValueError for anything malformed; nothing is
        added then.
        """

    def startJob(jobid):
        """Queue a job added with `startLater`; return False if it was not."""

    def pauseQueue(name):
        """Let no processor, here or elsewhere, start a job of queue `name`
        until `resumeQueue`."""

    def resumeQueue(name):
        """Let the jobs of a paused queue start again."""

    def setQueueLimit(name, limit):
        """Let at most `limit` jobs of queue `name` run at once across
        every process (None: no limit)."""

    def getQueues(most=1000):
        """The queues: dicts of name, paused, limit, running, queued and
        held (waiting for a pause or a limit), counted up to `most`."""

    def getLimits(most=1000):
        """The limits that run or hold jobs: dicts of scope, maximum, rate,
        running, starts (within the rate's period) and held."""

    def getStranded(most=1000):
        """Queued jobs no running worker takes: dicts of queue, task and
        queued."""

    def reschedule(jobid):
        """Schedule a cron job anew after its fields were updated."""

    def cancel(jobid):
        """Cancel a job that has not run yet (or a cron job's future runs).

        Cancelling a cancelled job does nothing; a job that is running or
        finished raises `JobStateError`."""

    def clean(status=FINISHED):
        """Remove the jobs with the given finished statuses; return how many.

        Only ``completed``, ``cancelled`` and ``error`` may be given; any
        other status raises ValueError and removes nothing."""

    def removeJob(jobid):
        """Remove a finished job; any other raises `JobStateError`."""

    def getStatus(jobid):
        """Return the status of the job."""

    def getResult(jobid):
        """Return what the job's task returned, or None."""

    def getError(jobid):
        """Return the message of the job's last failure, or None."""

    def jobsPage(status=None, after=None, limit=50, task=None, owner=None,
                 tag=None, search=None):
        """Return a page of jobs and the cursor of the next page, or None.

        Without `status`, every job, newest first; with one, the jobs of
        that status in its order: queued jobs in the order they will run,
        scheduled jobs by due time, finished jobs the last to finish
        first.  The cursor is an opaque string: pass it back as `after`
        for the next page, which goes on past the last job shown, however
        jobs came and went meanwhile.  `task`, `owner` (a principal id),
        `tag` and `search` (words, each the start of a word of the job's
        input, result or error) keep the jobs matching all of them; with
        a status, or task or owner, a page reads at most `listing.SCAN`
        jobs and may come short with a cursor.  Raise ValueError for an
        unknown status, a limit below 1 or a cursor that is not one.
        """

    def statusCounts():
        """Return how many jobs have each status (statuses with none are
        left out); the counts add up to ``len(jobs)``."""

    def queueLength():
        """Return how many jobs are queued, ready to be claimed."""

    def retry(jobid):
        """Run a failed or cancelled job again: a new attempt of the same
        job, whose retry policy counts attempts from here; a cron job goes
        back to its schedule.  Raise `JobStateError` for any other job."""

    def getChanges(jobid):
        """What the transactions of the job's attempts changed of the
        application's data, newest last: dicts of `attempt`, `objects`
        (dicts of `class`, `oid` and `path`, at most 100), how many `more`
        there were, and when it was `undone` (None if not)."""

    def undoJob(jobid):
        """Put the objects a completed job's last attempt changed back as
        they were before it, in the caller's transaction, and return how
        many were restored (objects it created are left unreachable).
        Raises UndoRefusedError, saying why, when a later transaction
        changed one of them, when the storage keeps no history, or when
        there is nothing to undo."""

    def retryAll(status=ERROR, task=None, limit=100):
        """Retry up to `limit` jobs of `status` (error or cancelled), of
        `task` if given, oldest first, and return how many.  To retry all,
        call it in one transaction after another until it returns less
        than `limit`, at most as many times as there were such jobs: jobs
        that fail again meanwhile come back."""

    def pauseJob(jobid, paused=True):
        """Pause a cron job (its runs are skipped until it is resumed), or
        resume it with ``paused=False``."""

    def runNow(jobid):
        """Queue a run of a waiting cron job now, besides its schedule, as a
        job of its own; return that job's id."""

    def activity(now=None, minutes=60):
        """How many jobs finished in each of the last `minutes` minutes (1
        to 60), by status: a list of (minute start, {status: count}),
        oldest first."""

    def activityByHour(hours=24, task=None, now=None):
        """As `activity`, by hour (1 to 168), of `task` or of every task;
        counted as drains file the jobs: a moment after they finished."""

    def oldestWaiting():
        """Since when (epoch seconds) the job queued longest waits, or
        None when none is queued."""

    def pause():
        """Make every processor, here or elsewhere, leave this service's
        jobs alone until `resume`; stored, so every worker obeys."""

    def resume():
        """Let processors claim this service's jobs again."""

    def isPaused():
        """Tell whether the service is paused."""

    def hasJobsWaiting(now=None):
        """Tell whether a job is ready to be claimed at `now`."""

    def claimNextJob(now=None):
        """Take the next ready job off the queue, mark it processing and
        return its id; return None when no job is ready at `now`."""

    def processNext(now=None, jobid=None):
        """Claim and run one job (or the given one) in the current
        transaction; return False when there was nothing to do."""

    def process(now=None):
        """Run every job that is ready at `now`, in the current transaction.

        Exceptions raised by tasks never escape: they fail the job.
        """

    def startProcessing():
        """Start running jobs in a background thread."""

    def stopProcessing():
        """Ask the background thread to stop."""

    def isProcessing():
        """Tell whether the background thread runs."""


class IProcessor(Interface):
    """The loop that runs a service's jobs in the background."""

    running = Attribute('True while the loop runs; set False to stop it.')

    def __call__():
        """Run jobs until `running` is set to False."""


# The contracts between the service and its processors and hosts, in a
# module of their own; importable from here too.
from lovely.remotetask.protocols import (  # noqa: E402,F401
    IPrincipalSource, IWorkerProtocol)
