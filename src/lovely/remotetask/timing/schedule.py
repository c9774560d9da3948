"""Schedule arithmetic: pure functions of times and calendar fields.

Nothing here is persistent or reads the clock.  Times are UTC epoch seconds.
The search jumps from field to field (month, day, hour, minute); the
calendar repeats every 400 years, so a schedule that has not fired within
that span never will.
"""
import bisect
import calendar
import datetime
import math
from typing import Iterable, Optional

from lovely.remotetask.checks import isNumber
from lovely.remotetask.exceptions import ScheduleError, quoted, shorten

#: How people write "every value" of a field.
EVERY = '*'
#: The blanks a field's text may have around its parts.
BLANKS = ' \t'

#: The fields of a tuple schedule, finest first, with their ranges.
FIELDS = (
    ('minute', 0, 59),
    ('hour', 0, 23),
    ('dayOfMonth', 1, 31),
    ('month', 1, 12),
    ('dayOfWeek', 0, 6),
)
_RANGES = {name: (low, high) for name, low, high in FIELDS}
#: The most days each month can have (February in a leap year).
LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
#: The Gregorian calendar repeats itself every 400 years.
CYCLE_YEARS = 400


def checkField(name: str, values: Iterable[int]) -> tuple:
    """Return `values` as a sorted tuple of unique ints, or raise ValueError
    naming the field and the first value out of its range."""
    low, high = _RANGES[name]
    if isinstance(values, (str, bytes)) or not hasattr(values, '__iter__'):
        raise ScheduleError(
            f'{name} must be a tuple of ints in {low}-{high}, not {values!r}')
    checked = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScheduleError(f'{name} value {value!r} is not an int')
        if not low <= value <= high:
            raise ScheduleError(
                f'{name} value {value} is out of range {low}-{high}')
        checked.add(value)
    return tuple(sorted(checked))


#: Names taken for the values of a field, as people write them: the days
#: of the week count from Monday as 0 (cron's count from Sunday), so a name
#: cannot be mistaken.
NAMES = {
    'month': ('january', 'february', 'march', 'april', 'may', 'june',
              'july', 'august', 'september', 'october', 'november',
              'december'),
    'dayOfWeek': ('monday', 'tuesday', 'wednesday', 'thursday', 'friday',
                  'saturday', 'sunday'),
}
#: The names a field's values are taken by: whole, and their first three
#: letters.
_NAMES = {field: {spelling: number
                  for number, name in enumerate(names, _RANGES[field][0])
                  for spelling in (name, name[:3])}
          for field, names in NAMES.items()}


#: What `parseFieldText` says a field takes.
_TAKES = dict(
    minute='a number: use * for every minute, or numbers and ranges such as '
    '0,15,30 or 1-5',
    hour='a number: use * for every hour, or numbers and ranges such as '
    '9,17 or 9-17',
    dayOfMonth='a number: use * for every day of the month, or numbers and '
    'ranges such as 1,15 or 1-7',
    month='a number or a month: use * for every month, numbers and ranges '
    'such as 1,7 or 1-3, or names such as jan,jul',
    dayOfWeek='a number or a day: use * for every day, numbers from 0 '
    '(Monday) to 6 (Sunday) and ranges such as 0-4, or names such as '
    'mon-fri')


def parseFieldText(name: str, text: str) -> tuple:
    """A tuple field written as people write it: ``*`` (or nothing) for
    every value, else numbers and ranges, ``0,15,30`` or ``1-5``; days
    of the week and months also by name (``mon-fri``, ``january,jul``).

    Ranges are checked against the field's bounds before they are
    expanded, so that a huge one costs nothing.  Numbers are ASCII digits
    and blanks are spaces and tabs, no other: what is taken can be said
    exactly (the API's schema does, as a pattern)."""
    low, high = _RANGES[name]
    names = _NAMES.get(name, {})
    text = text.strip(BLANKS)
    if text in ('', EVERY):
        return ()
    values = []
    for part in text.split(','):
        part = part.strip(BLANKS)
        first, dash, last = part.partition('-')
        try:
            if dash:
                start = _fieldValue(first, names)
                stop = _fieldValue(last, names)
            else:
                start = stop = _fieldValue(part, names)
        except ValueError:
            raise ScheduleError(f'{name} value {quoted(part)} is not '
                                f'{_TAKES[name]}') from None
        if stop < start:
            raise ScheduleError(f'{name} range {part!r} runs backwards')
        for value in (start, stop):
            if not low <= value <= high:
                raise ScheduleError(
                    f'{name} value {shorten(str(value))} is out of range '
                    f'{low}-{high}')
        values.extend(range(start, stop + 1))
    return checkField(name, values)


def _fieldValue(text: str, names: dict) -> int:
    text = text.strip(BLANKS)
    if text.lower() in names:
        return names[text.lower()]
    if not text.isascii() or not text.isdigit():
        raise ValueError(text)
    return int(text)


def runs(values) -> list:
    """Sorted `values` cut into runs of consecutive numbers."""
    found, start = [], 0
    for index, value in enumerate(values):
        if index + 1 == len(values) or values[index + 1] != value + 1:
            found.append(values[start:index + 1])
            start = index + 1
    return found


def spans(values, text, through: str) -> list:
    """Sorted `values` as parts to show: a run of three or more consecutive
    numbers as one part, its first and last joined by `through`, any other
    value as a part of its own; each value shown by `text`."""
    parts = []
    for run in runs(values):
        if len(run) > 2:
            parts.append(f'{text(run[0])}{through}{text(run[-1])}')
        else:
            parts.extend(map(text, run))
    return parts


def checkDelay(delay) -> Optional[float]:
    """Return `delay` if it is None or a number of seconds >= 0."""
    if delay is None:
        return None
    if not isNumber(delay):
        raise ScheduleError(
            f'delay must be a number of seconds, not {delay!r}')
    if delay < 0:
        raise ScheduleError(f'delay must not be negative, got {delay!r}')
    return delay


def checkSchedule(minute=(), hour=(), dayOfMonth=(), month=(), dayOfWeek=(),
                  delay=None) -> dict:
    """Validate a whole tuple schedule; return it normalised as a dict."""
    fields = dict(
        minute=checkField('minute', minute),
        hour=checkField('hour', hour),
        dayOfMonth=checkField('dayOfMonth', dayOfMonth),
        month=checkField('month', month),
        dayOfWeek=checkField('dayOfWeek', dayOfWeek),
    )
    delay = checkDelay(delay)
    if delay is not None and any(fields.values()):
        given = ', '.join(name for name, value in fields.items() if value)
        raise ScheduleError(f'give either delay or {given}, not both')
    fields['delay'] = delay
    return fields


def nextDelayedTime(now: float, delay: float) -> float:
    """The time a job delayed by `delay` seconds at `now` is due."""
    return now + delay


def nextCallTime(now: float, minute=(), hour=(), dayOfMonth=(), month=(),
                 dayOfWeek=()) -> Optional[int]:
    """The first whole minute strictly after `now` that matches the fields.

    Empty fields are free, except that the fields finer than the finest one
    given are pinned to their lowest value.  Day of month and day of week
    must both match when both are given.  Returns None for a schedule that
    never fires, such as 30 February.  The fields must have been checked.
    """
    minutes, hours, days, months, weekdays = effectiveFields(
        minute, hour, dayOfMonth, month, dayOfWeek)
    if not any(day <= LONGEST_MONTH[m - 1] for m in months for day in days):
        return None
    start = (math.floor(now) // 60 + 1) * 60
    return walkCalendar(
        start, months, hours, minutes,
        lambda year, month, day: _firstDay(year, month, day, days, weekdays))


def walkCalendar(start: int, months: tuple, hours: tuple, minutes: tuple,
                 firstDay) -> Optional[int]:
    """The first whole minute at or after `start` whose fields match.

    Times are seconds on a calendar without clock changes (UTC, or a wall
    clock read as if it were UTC).  `firstDay(year, month, day)` gives the
    first day from `day` on in that month that matches the day fields, or
    None.  The search jumps month, day, hour and minute in turn, and gives
    up after one 400-year cycle of the calendar.
    """
    year, mon, day, hr, mn = _utcFields(start)
    lastYear = year + CYCLE_YEARS
    while year <= lastYear:
        if mon not in months:
            mon = firstFrom(months, mon)
            if mon is None:
                year, mon = year + 1, months[0]
            day, hr, mn = 1, 0, 0
            continue
        found = firstDay(year, mon, day)
        if found is None:
            year, mon = (year, mon + 1) if mon < 12 else (year + 1, 1)
            day, hr, mn = 1, 0, 0
            continue
        if found != day:
            day, hr, mn = found, 0, 0
        found = firstFrom(hours, hr)
        if found is None:
            day, hr, mn = day + 1, 0, 0
            continue
        if found != hr:
            hr, mn = found, 0
        found = firstFrom(minutes, mn)
        if found is None:
            hr, mn = hr + 1, 0
            continue
        return calendar.timegm((year, mon, day, hr, found, 0))
    return None


def effectiveFields(minute=(), hour=(), dayOfMonth=(), month=(),
                    dayOfWeek=()) -> list:
    """The values each field takes, finest first: free fields filled with
    their whole range, those finer than the finest field given pinned to
    their first value."""
    givenDay = bool(dayOfMonth or dayOfWeek)
    finest = ('minute' if minute else 'hour' if hour else
              'day' if givenDay else 'month' if month else None)
    pin = {
        'minute': (), 'hour': ('minute',), 'day': ('minute', 'hour'),
        'month': ('minute', 'hour', 'dayOfMonth'), None: (),
    }[finest]
    given = dict(minute=minute, hour=hour, dayOfMonth=dayOfMonth,
                 month=month, dayOfWeek=dayOfWeek)
    result = []
    for name, low, high in FIELDS:
        if given[name]:
            result.append(tuple(sorted(given[name])))
        elif name in pin:
            result.append((low,))
        else:
            result.append(tuple(range(low, high + 1)))
    return result


def _utcFields(timestamp: int):
    t = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return t.year, t.month, t.day, t.hour, t.minute


def firstFrom(values: tuple, start: int) -> Optional[int]:
    """The first of the sorted `values` that is >= `start`, or None."""
    index = bisect.bisect_left(values, start)
    return values[index] if index < len(values) else None


def _firstDay(year, month, start, days, weekdays) -> Optional[int]:
    """The first day >= `start` of the month matching both day fields."""
    last = calendar.monthrange(year, month)[1]
    day = firstFrom(days, start)
    while day is not None and day <= last:
        if calendar.weekday(year, month, day) in weekdays:
            return day
        day = firstFrom(days, day + 1)
    return None


#: What to do with runs of a cron job that were missed while nothing
#: processed: run once for all of them, run each, or skip them.
MISSED_POLICIES = ('once', 'each', 'skip')

#: Seconds after its time within which a run counts as on time; later it
#: counts as missed.  Processing looks for due jobs about every second, so
#: anything later means that nothing processed for a while.
ON_TIME = 60.0


def checkMissedPolicy(missed: str, graceTime) -> None:
    """Raise ScheduleError for an unknown policy or a bad grace time."""
    if missed not in MISSED_POLICIES:
        raise ScheduleError(
            f'missed must be one of {", ".join(MISSED_POLICIES)}, '
            f'not {missed!r}')
    if graceTime is not None and (
            isinstance(graceTime, bool)
            or not isinstance(graceTime, (int, float))
            or not graceTime >= 0):
        raise ScheduleError(
            f'graceTime must be None or seconds >= 0, not {graceTime!r}')


def catchUp(nextTime, due: float, now: float, missed: str = 'once',
            graceTime: Optional[float] = None):
    """Decide about a cron job found due at `now` (its time was `due`).

    `nextTime(t)` gives the job's first time after t.  Returns
    ``(runAt, nextDue)``: the due time of the run to start now (None for
    none) and the job's next due time.  A run found within `ON_TIME` of its
    time is on time and runs.  Older runs are missed: missed runs older than
    `graceTime` are skipped; of the others, 'once' runs one for all of them,
    'each' runs them one by one (the next is due at once), 'skip' none.
    """
    oldest = now - graceTime if graceTime is not None else None
    if oldest is not None and due < oldest:
        due = nextTime(oldest - 1e-6)   # the first time within grace
        if due is None or due > now:
            return None, due
    if missed == 'each':
        return due, nextTime(due)
    following = nextTime(now)
    if due >= now - ON_TIME:
        return due, following
    if missed == 'once':
        return due, following
    # 'skip': run only if a time within ON_TIME came after the missed ones.
    recent = nextTime(now - ON_TIME - 1e-6)
    if recent is not None and recent <= now:
        return recent, following
    return None, following
