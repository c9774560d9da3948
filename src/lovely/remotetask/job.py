"""Persistent jobs: what to run, with which input, and what came of it.

Jobs hold data; where a job is and how its status moves is decided by the
service (see `placement`).  Concurrent changes of a job merge attribute by
attribute (a progress report while the job's outcome is recorded), except
moves: every move counts in `_moves`, and two transactions that both move
a job conflict, so that a job is claimed, cancelled or recorded once.
"""
import time

from ZODB.POSException import ConflictError
from zope.interface import implementer

from lovely.remotetask import interfaces, schedule
from lovely.remotetask.cron import checkTimezone, nextCronTime, parseCron
from lovely.remotetask.exceptions import ScheduleError
from lovely.remotetask.merge import mergeFields
from lovely.remotetask.versioning import Versioned

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


def _fromVersion1(state):
    """Version 1 kept the queue token of the service's single queue."""
    state = dict(state)
    state.pop('queueToken', None)
    return state


def _fromVersion2(state):
    """Version 2 kept the history as dicts, one per attempt."""
    state = dict(state)
    history = state.pop('history', ())
    if history:
        state['_attempts'] = tuple(
            tuple(attempt.get(field) for field in ATTEMPT_FIELDS)
            for attempt in history)
    return state


@implementer(interfaces.IJob)
class Job(Versioned):

    _stateVersion = 3
    _migrations = {0: lambda state: state, 1: _fromVersion1,
                   2: _fromVersion2}

    status = interfaces.QUEUED
    output = None
    error = None
    started = None
    completed = None
    attempts = 0
    #: The id of the worker that holds the job, or None.
    worker = None
    priority = 0
    key = None
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
    # Where the job is (see `placement`): the segment of its chain entry,
    # the entry (kept when the job leaves its chain: a job claimed and given
    # back unstarted goes back to where it stood), and how often it moved.
    _token = None
    _entry = None
    _moves = 0
    #: The cron job whose run this is, for the runs of cron jobs whose
    #: runs may overlap.
    runOf = None
    #: The id of the principal who added the job (`principals`), or None:
    #: hosts with users run its task as them.
    owner = None

    def __init__(self, id: int, task: str, input) -> None:
        self._initState()
        self.id = id
        self.task = task
        self.input = input
        self.created = time.time()

    def _p_resolveConflict(self, old, committed, new):
        return mergeFields(old, committed, new, {'_moves': _mergeMoves})

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
