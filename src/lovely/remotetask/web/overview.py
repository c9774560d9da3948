"""What the overview shows of a service: counts, queue, workers, activity.

Each figure is read from what the service keeps counted (per-writer
counts, the heads of the queue's chains, the workers' records, finished
jobs per minute), never by reading jobs, so the overview costs the same
at any backlog.  The JSON API and the dashboard show the same dicts.
"""
import time
from typing import Optional

from lovely.remotetask.interfaces import CANCELLED, COMPLETED, ERROR
from lovely.remotetask.serialize import STATUSES

#: The statuses the activity chart counts, per minute.
ACTIVITY_STATUSES = (COMPLETED, ERROR, CANCELLED)


def summary(service, now: Optional[float] = None) -> dict:
    """Counts by status (every status, zeros too), the queue's length,
    since when its oldest job waits, and whether the service is paused."""
    now = time.time() if now is None else now
    counts = service.statusCounts()
    oldest = service.oldestWaiting()
    return dict(
        counts={status: counts.get(status, 0) for status in STATUSES},
        total=sum(counts.values()),
        queued=service.queueLength(),
        oldestWaiting=oldest,
        oldestWaitingAge=None if oldest is None else max(0.0, now - oldest),
        paused=service.isPaused(),
        processing=service.isProcessing())


def workers(service, now: Optional[float] = None) -> list:
    """The workers known, with the age of their last heartbeat in seconds.

    Heartbeats are stamped by the database's clock and their age is read
    on this machine's: a skew between the two shows in the age (never
    below 0), not in whether a worker's jobs are taken back, which only
    the database's clock decides.
    """
    now = time.time() if now is None else now
    found = []
    for worker in service.getWorkers():
        data = dict(worker)
        data['jobs'] = {str(jobid): attempt for jobid, attempt in
                        sorted(worker['jobs'].items())}
        data['heartbeatAge'] = max(0.0, now - worker['lastSeen'])
        data['expired'] = data['heartbeatAge'] > worker['leaseTime']
        found.append(data)
    return found


def activity(service, now: Optional[float] = None,
             minutes: int = 60) -> list:
    """Jobs finished per minute over the last `minutes`, oldest first:
    dicts of the minute's start and a count per status of
    `ACTIVITY_STATUSES`."""
    return [dict(start=start, **{status: counts.get(status, 0)
                                 for status in ACTIVITY_STATUSES})
            for start, counts in service.activity(now, minutes)]


def activityByHour(service, hours: int = 24, task: Optional[str] = None,
                   now: Optional[float] = None) -> list:
    """Jobs (of `task`, or all) finished per hour over the last `hours`,
    oldest first, as `activity` gives minutes."""
    return [dict(start=start, **{status: counts.get(status, 0)
                                 for status in ACTIVITY_STATUSES})
            for start, counts in service.activityByHour(hours, task, now)]


def duration(seconds: Optional[float]) -> str:
    """A short age for people: ``42 s``, ``7 min``, ``3 h 5 min``, ``2 d``."""
    if seconds is None:
        return ''
    seconds = int(seconds)
    if seconds < 60:
        return f'{seconds} s'
    if seconds < 3600:
        return f'{seconds // 60} min'
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f'{hours} h {minutes} min' if minutes else f'{hours} h'
    return f'{seconds // 86400} d'
