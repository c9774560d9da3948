"""Persistent jobs: what to run, with which input, and what came of it.

Jobs hold data; the service decides how their status changes.
"""
import time

import persistent
from zope.interface import implementer

from lovely.remotetask import interfaces, schedule
from lovely.remotetask.exceptions import RemoteTaskError


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
    scheduledFor = None

    def __init__(self, id: int, task: str, input, minute=(), hour=(),
                 dayOfMonth=(), month=(), dayOfWeek=(), delay=None) -> None:
        super().__init__(id, task, input)
        self.update(minute, hour, dayOfMonth, month, dayOfWeek, delay)
        self.status = (interfaces.CRONJOB if self.delay is None
                       else interfaces.DELAYED)

    def update(self, minute=(), hour=(), dayOfMonth=(), month=(),
               dayOfWeek=(), delay=None) -> None:
        fields = schedule.checkSchedule(
            minute, hour, dayOfMonth, month, dayOfWeek, delay)
        for name, value in fields.items():
            setattr(self, name, value)

    @property
    def recurring(self) -> bool:
        """A cron job runs again after each run; a delayed job runs once."""
        return self.delay is None

    def timeOfNextCall(self, now=None):
        if now is None:
            now = time.time()
        if self.delay is not None:
            return schedule.nextDelayedTime(now, self.delay)
        return schedule.nextCallTime(
            now, self.minute, self.hour, self.dayOfMonth, self.month,
            self.dayOfWeek)
