"""Schedules in words, for people.

A tuple schedule counts weekdays from Monday as 0, cron from Sunday; shown
as numbers in cron's layout, ``0 9 * * 0`` (Monday at nine) reads as
Sunday to anyone who knows cron.  So tuple schedules are said in words,
with the days named and the fields a schedule pins written out:
``hour=(2,)`` is "at 02:00 every day".
"""
from typing import Callable, Sequence

from lovely.remotetask.timing.schedule import NAMES, effectiveFields, spans

WEEKDAYS = tuple(name.title() for name in NAMES['dayOfWeek'])
MONTHS = tuple(name.title() for name in NAMES['month'])

#: Up to this many times of day are listed one by one ("at 09:00 and
#: 17:30"); more are said as minutes of hours.
TIMES_LISTED = 6


def describeFields(minute=(), hour=(), dayOfMonth=(), month=(),
                   dayOfWeek=()) -> str:
    """When a tuple schedule fires, in words: "at 09:00 on Monday"."""
    minutes, hours, days, months, weekdays = effectiveFields(
        minute, hour, dayOfMonth, month, dayOfWeek)
    everyMinute, everyHour = len(minutes) == 60, len(hours) == 24
    if everyMinute and everyHour:
        words = ['every minute']
    elif everyMinute and len(hours) == 1:
        words = [f'every minute from {hours[0]:02d}:00 to {hours[0]:02d}:59']
    elif everyMinute:
        words = [f'every minute of {_hours(hours)}']
    elif everyHour:
        words = [f'every hour at {_minutes(minutes)}']
    elif len(minutes) * len(hours) <= TIMES_LISTED:
        words = ['at ' + _join([f'{h:02d}:{m:02d}' for h in hours
                               for m in minutes])]
    else:
        words = [f'at {_minutes(minutes)} of {_hours(hours)}']
    byDate, byWeekday = len(days) < 31, len(weekdays) < 7
    if byDate and byWeekday:
        words.append(f'on {_dates(days)} if it is a '
                     f'{_spans(weekdays, WEEKDAYS.__getitem__, "or")}')
    elif byDate:
        words.append(f'on {_dates(days)}')
    elif byWeekday:
        words.append(f'on {_spans(weekdays, WEEKDAYS.__getitem__)}')
    elif not (everyMinute or everyHour):
        words.append('every day')
    if len(months) < 12:
        words.append(f'in {_spans(months, lambda m: MONTHS[m - 1])}')
    return ' '.join(words)


def _hours(hours) -> str:
    if len(hours) == 1:
        return f'the hour {hours[0]:02d}'
    return 'the hours ' + _spans(hours, lambda h: f'{h:02d}')


def _minutes(minutes) -> str:
    return _spans(minutes, lambda m: f':{m:02d}')


def _dates(days) -> str:
    return 'the ' + _spans(days, _ordinal)


def _ordinal(day: int) -> str:
    suffix = 'th' if 10 <= day % 100 <= 20 else \
        {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th')
    return f'{day}{suffix}'


def _spans(values: Sequence[int], text: Callable[[int], str],
           last: str = 'and') -> str:
    """Sorted `values` as words: runs of three or more as "a to b", the
    rest listed, the last joined by `last`."""
    return _join(spans(values, text, ' to '), last)


def _join(parts, last: str = 'and') -> str:
    if len(parts) < 2:
        return ''.join(parts)
    return f'{", ".join(parts[:-1])} {last} {parts[-1]}'
