"""Persistent jobs: what to run, with which input, and what came of it.

Jobs hold data; the service decides how their status changes.
"""
import time

import persistent
from zope.interface import implementer

from lovely.remotetask import interfaces, schedule
from lovely.remotetask.cron import checkTimezone, nextCronTime, parseCron
from lovely.remotetask.exceptions import RemoteTaskError, ScheduleError


class _Versioned(persistent.Persistent):
    """Stores a state version so that later code can read older pickles."""

    _stateVersion = 1

    def __setstate__(self, state):
        version = state.get('_stateVersion', 0)
        if version > type(self)._stateVersion:
            raise RemoteTaskError(
                f'{type(self).__name__} was stored by a newer version of '
                f'lovely.remotetask (state version {version}); upgrade it')
        super().__setstate__(state)

    def _initState(self):
        self._stateVersion = type(self)._stateVersion


@implementer(interfaces.IJob)
class Job(_Versioned):

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
    #: Where the job waits in the service's queue, while it does.
    queueToken = None

    def __init__(self, id: int, task: str, input) -> None:
        self._initState()
        self.id = id
        self.task = task
        self.input = input
        self.created = time.time()

    def __repr__(self):
        return f'<{type(self).__name__} {self.id}>'


@implementer(interfaces.ICronJob)
class CronJob(Job):

    status = interfaces.CRONJOB
    minute = hour = dayOfMonth = month = dayOfWeek = ()
    delay = None
    cron = None
    timezone = None
    missed = 'once'
    graceTime = None
    overlap = False
    lastRun = None

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
