"""Jobs and services as JSON-ready dicts, for the API and the dashboard.

Inputs and results are whatever tasks were given and returned: anything
picklable.  What JSON cannot say (a datetime, a set, bytes, an object) is
sent as its ``repr`` string, so that a listing never fails on one odd job.
"""
import datetime
import math
import zoneinfo
from typing import Optional

from lovely.remotetask.interfaces import (  # noqa: F401 (for the faces)
    ERROR, RETRY, STATUSES, ICronJob)
from lovely.remotetask.timing.cron import fieldsAsCron
from lovely.remotetask.timing.describe import describeFields
from lovely.remotetask.timing.schedule import FIELDS

#: Other names that statuses are taken by: the dashboard says "failed".
STATUS_ALIASES = {'failed': ERROR}


def statusNamed(text) -> Optional[str]:
    """The status that `text` names (itself, or the status it is another
    name for), or None."""
    if not isinstance(text, str):
        return None
    if text in STATUSES:
        return text
    return STATUS_ALIASES.get(text)


#: The tuple fields of a schedule, in the order of a cron expression.
SCHEDULE_FIELDS = tuple(name for name, _, _ in FIELDS)


def jsonValue(value, depth: int = 0):
    """`value` made of what JSON can hold: dicts with str keys, lists,
    str, finite numbers, booleans and None."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth > 50:
        return repr(value)
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): jsonValue(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonValue(v, depth + 1) for v in value]
    return repr(value)


def jobData(job, url: str) -> dict:
    """What the API says about a job; `url` is the job's own."""
    data = dict(
        id=job.id, task=job.task, status=job.status,
        input=jsonValue(job.input), result=jsonValue(job.output),
        error=job.error, created=job.created, started=job.started,
        completed=job.completed, attempts=job.attempts, runs=job.runs,
        worker=job.worker,
        priority=job.priority, key=job.key, nextAttempt=(
            job.scheduledFor if job.status == RETRY else None),
        runOf=job.runOf, owner=job.owner, queue=job.queue,
        deadline=job.deadline, tags=list(job.tags), **dependencyData(job),
        url=url)
    if ICronJob.providedBy(job):
        data['schedule'] = scheduleData(job)
    return data


#: The ids of the jobs a job waits for that its data lists: a batch's
#: callback waits for every job of the batch, thousands maybe.
WAITS_SHOWN = 100


def dependencyData(job) -> dict:
    """What a job waits or waited for (the first `WAITS_SHOWN` ids, and
    how many in all), what it does if one fails, and the workflow and
    batch it is part of (their ids)."""
    waitsFor = job.waitsFor
    return dict(
        waitsFor=list(waitsFor[:WAITS_SHOWN]), waitsForCount=len(waitsFor),
        onFailure=job.onFailure,
        workflow=None if job.workflow is None else job.workflow.id,
        batch=None if job.batch is None else job.batch.id)


def scheduleData(job) -> dict:
    """A cron or delayed job's schedule, as the API takes it back, with
    `text` (`scheduleText`) and, for tuple fields, `asCron`: the cron
    expression that fires at the same times, in cron's numbering (None
    when there is none)."""
    data = dict(cron=job.cron.expression if job.cron is not None else None,
                timezone=job.timezone if job.cron is not None else None)
    for name in SCHEDULE_FIELDS:
        data[name] = list(getattr(job, name))
    data.update(delay=job.delay, missed=job.missed, graceTime=job.graceTime,
                overlap=job.overlap, nextRun=job.nextRun, lastRun=job.lastRun,
                text=scheduleText(job), asCron=_asCron(job),
                paused=job.paused)
    return data


def _asCron(job):
    if job.delay is not None or job.cron is not None:
        return None
    return fieldsAsCron(*(getattr(job, name) for name in SCHEDULE_FIELDS))


def scheduleText(job) -> str:
    """A cron job's schedule in one line, for people: a cron expression as
    written, with its zone unless UTC; tuple fields in words, with the
    days named (their numbers count Monday as 0, cron's Sunday), in UTC."""
    if job.delay is not None:
        return f'once, {job.delay:g} s after it was added'
    if job.cron is not None:
        zone = '' if job.timezone in (None, 'UTC') else f' ({job.timezone})'
        return f'{job.cron.expression}{zone}'
    return describeFields(*(getattr(job, name)
                            for name in SCHEDULE_FIELDS)) + ' (UTC)'


_EPOCH = datetime.datetime(1970, 1, 1)


def formatTime(timestamp: Optional[float]) -> str:
    """Epoch seconds as UTC date and time to the second; '' for None.

    A time past the dates of the calendar (years 1 to 9999) says so: a
    job delayed by ages is due after the last of them, and its page shows
    that rather than failing.
    """
    if timestamp is None:
        return ''
    try:
        moment = _EPOCH + datetime.timedelta(seconds=timestamp)
    except OverflowError:
        return f'after {_format(datetime.datetime.max)}' if timestamp > 0 \
            else f'before {_format(datetime.datetime.min)}'
    return _format(moment)


def _format(moment: datetime.datetime) -> str:
    # isoformat writes the year in four digits (strftime's %Y may not).
    return moment.isoformat(' ', 'seconds')


def zonedTime(timestamp: Optional[float], zone: Optional[str] = None) -> str:
    """`formatTime` saying its zone, so that no one takes UTC for local
    time: '... UTC', or in `zone` (a cron job's) with UTC beside it, as
    '2026-03-02 01:30:00 Europe/Vienna (00:30:00 UTC)'; '' for None."""
    text = formatTime(timestamp)
    if not text or zone in (None, 'UTC') or text[0] in 'ab':
        return text and f'{text} UTC'
    try:
        local = datetime.datetime.fromtimestamp(
            timestamp, zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError,
            OverflowError):
        return f'{text} UTC'
    localText = _format(local.replace(tzinfo=None))
    utc = text[11:] if localText[:10] == text[:10] else text
    return f'{localText} {zone} ({utc} UTC)'


def scheduleZone(job) -> Optional[str]:
    """The zone a cron job's times are shown in: its cron expression's
    (tuple fields and delays are UTC)."""
    if ICronJob.providedBy(job) and job.cron is not None:
        return job.timezone
    return None


def historyData(job) -> list:
    """The attempts a job made, newest last: attempt, worker, started,
    ended, error and traceback (the last few, tracebacks cut short; see
    `job.HISTORY_LENGTH`)."""
    return [dict(attempt=entry.get('attempt'), worker=entry.get('worker'),
                 started=entry.get('started'), ended=entry.get('ended'),
                 error=entry.get('error'), traceback=entry.get('traceback'))
            for entry in job.history]


def changesData(job) -> list:
    """What the transactions of a job's attempts changed, newest last:
    attempt, objects (class, oid, path), how many more, and when it was
    undone (see `ITaskService.getChanges`)."""
    return [dict(attempt=entry['attempt'], more=entry['more'],
                 undone=entry['undone'],
                 objects=[dict(change) for change in entry['objects']])
            for entry in getattr(job, 'changes', ())]
