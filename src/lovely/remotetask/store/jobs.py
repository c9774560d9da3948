"""Persistent jobs: what to run, with which input, and what came of it.

Jobs hold data; where a job is and how its status moves is decided by the
store (see `store`).  A job carries its own place: its status, and the
stamp of the entry that places it in its chain (see `chains`).
Concurrent changes of a job merge attribute by attribute (a progress
report while the job's outcome is recorded), except
moves: every move counts in `_moves`, and two transactions that both move
a job conflict, so that a job is claimed, cancelled or recorded once.
"""
import time

from ZODB.POSException import ConflictError
from zope.interface import implementer

from lovely.remotetask import interfaces
from lovely.remotetask.exceptions import ScheduleError
from lovely.remotetask.timing import schedule
from lovely.remotetask.timing.cron import (
    checkTimezone, nextCronTime, parseCron)
from lovely.remotetask.store.merge import mergeFields
from lovely.remotetask.store.versioning import Versioned

#: Attempts kept in a job's history, and characters of each traceback and
#: error message kept.
HISTORY_LENGTH = 10
TRACEBACK_LENGTH = 8000
ERROR_LENGTH = 10000
#: What a job's history tells of each attempt.
ATTEMPT_FIELDS = ('attempt', 'worker', 'started', 'ended', 'error',
                  'traceback')


def _mergeMoves(old, committed, new):
    if committed != old and new != old:
        raise ConflictError('a job moved by two transactions at once')
    return new if committed == old else committed


@implementer(interfaces.IJob)
class Job(Versioned):

    status = interfaces.QUEUED
    output = None
    error = None
    started = None
    completed = None
    attempts = 0
    #: The id of the worker that holds the job, or None.
    worker = None
    #: How often its task was called, conflicts that ran it again included
    #: (they cost no attempt).
    runs = 0
    #: The principal who added it, where the host knows one.
    owner = None
    priority = 0
    #: The queue it waits in (see ITaskService.add).
    queue = 'default'
    #: Its task's partition (the value of the task's partition key in its
    #: input), for limits per partition; '' for none.
    partition = ''
    #: When it must have started, or it is cancelled (epoch seconds).
    deadline = None
    #: The scopes of the limits its attempt in hand counts in.
    _limits = ()
    key = None
    #: The tags given at add (see `search`).
    tags = ()
    scheduledFor = None
    # The attempts made, newest last, as tuples in ATTEMPT_FIELDS' order:
    # a job is written at every step, and tuples pickle small.  A first
    # attempt that succeeded, as most do, is left out: the job's own
    # fields tell it (see `history`).
    _attempts = ()
    #: Whether every attempt is kept, even a lone success (the runs of a
    #: cron job, which all count as first attempts).
    _keepsEveryAttempt = False
    #: (fraction, message, time) of the last progress report, or None.
    progress = None
    #: Set when the job was cancelled while it ran: it is asked to stop.
    stopRequested = False
    #: Attempts made before the job was last retried by hand: its retry
    #: policy counts the attempts since.
    retryBase = 0
    # Where the job is (see `store`): the stamp of its place, kept while
    # it is held (a job claimed and given back unstarted goes back to where
    # it stood), and how often it moved.
    _stamp = None
    _moves = 0
    #: The cron job whose run this is, for the runs of cron jobs whose
    #: runs may overlap.
    runOf = None
    #: The workflow or batch it belongs to (see `workflowrecords`).
    workflow = batch = None
    # What it waits or waited for (see `dependencies`): its barrier, the
    # ids (a tuple, or a batch callback's `JobIds`), and the committed
    # ones the drain has still to tell.  The ids of the jobs that wait
    # for it, and of the one whose failure cancelled it.
    _barrier = None
    _waitsFor = ()
    _unregistered = ()
    _dependents = ()
    _cancelledBy = None
    # What the transactions of its attempts changed (see
    # `runtime.changes`), newest last: (attempt, changes, how many more,
    # when it was undone or None).
    _changes = ()

    def __init__(self, id: int, task: str, input) -> None:
        self.id = id
        self.task = task
        self.input = input
        self.created = time.time()

    def _p_resolveConflict(self, old, committed, new):
        return mergeFields(old, committed, new, {'_moves': _mergeMoves})

    @property
    def waitsFor(self) -> tuple:
        """The ids of the jobs it waits or waited for."""
        found = self._waitsFor
        return found if type(found) is tuple else found.ids

    @property
    def onFailure(self):
        """What it does if a job it waits for fails (see
        `dependencies.POLICIES`); None if it waits for none."""
        if self._barrier is None or not self.waitsFor:
            return None
        return self._barrier.policy

    def recordAttempt(self, ended: float, error=None, traceback=None):
        """Add the attempt that just ended to the history."""
        if error is None and self.attempts == 1 and not self._attempts \
                and not self._keepsEveryAttempt:
            return
        if traceback is not None and len(traceback) > TRACEBACK_LENGTH:
            traceback = '...\n' + traceback[-TRACEBACK_LENGTH:]
        attempt = self._attempt(ended, error, traceback)
        self._attempts = (self._attempts + (attempt,))[-HISTORY_LENGTH:]

    def _attempt(self, ended: float, error=None, traceback=None) -> tuple:
        """The attempt in hand, ended at `ended`, in ATTEMPT_FIELDS' order."""
        return (self.attempts, self.worker, self.started, ended, error,
                traceback)

    @property
    def history(self) -> tuple:
        """The attempts made, newest last: dicts of ATTEMPT_FIELDS."""
        attempts = self._attempts
        if not attempts and self.status == interfaces.COMPLETED and \
                self.attempts == 1:
            attempts = (self._attempt(self.completed),)
        return tuple(dict(zip(ATTEMPT_FIELDS, attempt))
                     for attempt in attempts)

    def recordChanges(self, attempt: int, changes: tuple, more: int):
        """Keep what the transaction of `attempt` changed."""
        self._changes = (self._changes + ((attempt, tuple(changes), more,
                                           None),))[-HISTORY_LENGTH:]

    def markUndone(self, attempt: int, when: float) -> None:
        """Mark the newest changes of `attempt` undone (the runs of a cron
        job all count as attempt 1)."""
        entries = list(self._changes)
        for index in range(len(entries) - 1, -1, -1):
            if entries[index][0] == attempt:
                entries[index] = entries[index][:3] + (when,)
                break
        self._changes = tuple(entries)

    @property
    def changes(self) -> tuple:
        """What the transactions of its attempts changed, newest last:
        dicts of the attempt, its `objects` (dicts of `class`, `oid`,
        `path`, and `new`: whether it created them), how many `more` were
        not listed, and when it was `undone` (None if not)."""
        return tuple(
            dict(attempt=attempt, more=more, undone=undone,
                 objects=[dict(zip(('class', 'oid', 'path', 'new'),
                                   change + (False,) * (4 - len(change))))
                          for change in found])
            for attempt, found, more, undone in self._changes)

    def __repr__(self):
        return f'<{type(self).__name__} {self.id}>'


@implementer(interfaces.ICronJob)
class CronJob(Job):

    status = interfaces.CRONJOB
    _keepsEveryAttempt = True
    minute = hour = dayOfMonth = month = dayOfWeek = ()
    delay = None
    cron = None
    timezone = None
    missed = 'once'
    graceTime = None
    overlap = False
    lastRun = None
    #: A paused cron job keeps its schedule but runs no more until resumed.
    paused = False

    def __init__(self, id: int, task: str, input, minute=(), hour=(),
                 dayOfMonth=(), month=(), dayOfWeek=(), delay=None, *,
                 cron=None, timezone=None, missed='once', graceTime=None,
                 overlap=False) -> None:
        super().__init__(id, task, input)
        self.update(minute, hour, dayOfMonth, month, dayOfWeek, delay,
                    cron=cron, timezone=timezone, missed=missed,
                    graceTime=graceTime, overlap=overlap)
        self.status = (interfaces.CRONJOB if self.delay is None
                       else interfaces.DELAYED)

    def update(self, minute=(), hour=(), dayOfMonth=(), month=(),
               dayOfWeek=(), delay=None, *, cron=None, timezone=None,
               missed=None, graceTime=None, overlap=None) -> None:
        """See ICronJob; the policies (`missed`, `graceTime`, `overlap`)
        stay as they are unless given."""
        fields = schedule.checkSchedule(
            minute, hour, dayOfMonth, month, dayOfWeek, delay)
        if cron is not None:
            if any(fields.values()) or fields['delay'] is not None:
                raise ScheduleError(
                    'give either a cron expression or the tuple fields and '
                    'delay, not both')
            fields['cron'] = parseCron(cron)
            fields['timezone'] = checkTimezone(timezone)
        elif timezone is not None:
            raise ScheduleError(
                'a timezone goes with a cron expression; tuple schedules '
                'count in UTC')
        else:
            fields['cron'] = fields['timezone'] = None
        policy = dict(
            missed=self.missed if missed is None else missed,
            graceTime=self.graceTime if graceTime is None else graceTime,
            overlap=self.overlap if overlap is None else bool(overlap))
        schedule.checkMissedPolicy(policy['missed'], policy['graceTime'])
        for name, value in dict(fields, **policy).items():
            setattr(self, name, value)

    @property
    def recurring(self) -> bool:
        """A cron job runs again after each run; a delayed job runs once."""
        return self.delay is None

    @property
    def nextRun(self):
        """When the job is due next, or None (not yet scheduled, or never)."""
        return self.scheduledFor

    def timeOfNextCall(self, now=None):
        if now is None:
            now = time.time()
        if self.delay is not None:
            return schedule.nextDelayedTime(now, self.delay)
        if self.cron is not None:
            return nextCronTime(self.cron, now, self.timezone)
        return schedule.nextCallTime(
            now, self.minute, self.hour, self.dayOfMonth, self.month,
            self.dayOfWeek)

    def catchUp(self, due: float, now: float):
        """The run to start at `now` for the time `due`, and the next due
        time, by the job's policy for missed runs (see schedule.catchUp)."""
        return schedule.catchUp(self.timeOfNextCall, due, now, self.missed,
                                self.graceTime)
