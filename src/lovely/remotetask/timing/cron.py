"""Cron expression arithmetic: parse five-field expressions, find the next
time they fire in an IANA time zone.

Nothing here is persistent or reads the clock.  Times are UTC epoch seconds.
Like `lovely.remotetask.timing.schedule`, the search jumps from field to field
(month, day, hour, minute) instead of walking minute by minute.

The fields are matched against the local wall clock of the zone.  Wall
times map to instants by two rules, chosen so that every matching wall time
fires exactly once:

* a wall time skipped by a forward change (02:30 on the day Europe/Vienna
  springs from 02:00 to 03:00) fires at the end of the gap, the first
  instant after it (03:00 local);
* a wall time that a backward change repeats fires at its first occurrence
  only; the second pass through the repeated hour fires nothing.

With both rules, later wall times never map to earlier instants, which is
what lets the search work on wall times alone.
"""
import calendar
import dataclasses
import datetime
import math
import re
import zoneinfo

from lovely.remotetask.exceptions import ScheduleError
from lovely.remotetask.timing.schedule import (
    LONGEST_MONTH, effectiveFields, firstFrom, spans, walkCalendar)

#: Names accepted for months (1-12) and weekdays (0-6, Sunday first), in
#: any case; whole names too (monday, january).
MONTH_NAMES = ('jan', 'feb', 'mar', 'apr', 'may', 'jun',
               'jul', 'aug', 'sep', 'oct', 'nov', 'dec')
DAY_NAMES = ('sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat')
_WHOLE_MONTHS = ('january', 'february', 'march', 'april', 'may', 'june',
                 'july', 'august', 'september', 'october', 'november',
                 'december')
_WHOLE_DAYS = ('sunday', 'monday', 'tuesday', 'wednesday', 'thursday',
               'friday', 'saturday')


def _names(short, whole, first):
    return {name: number for names in (short, whole)
            for number, name in enumerate(names, first)}


#: The five fields in the order of an expression: name, lowest and highest
#: value written, highest value meant (7 is another Sunday), names.
FIELDS = (
    ('minute', 0, 59, 59, {}),
    ('hour', 0, 23, 23, {}),
    ('dayOfMonth', 1, 31, 31, {}),
    ('month', 1, 12, 12, _names(MONTH_NAMES, _WHOLE_MONTHS, 1)),
    ('dayOfWeek', 0, 7, 6, _names(DAY_NAMES, _WHOLE_DAYS, 0)),
)

#: The macros and the expressions they stand for.
MACROS = {
    '@yearly': '0 0 1 1 *',
    '@annually': '0 0 1 1 *',
    '@monthly': '0 0 1 * *',
    '@weekly': '0 0 * * 0',
    '@daily': '0 0 * * *',
    '@midnight': '0 0 * * *',
    '@hourly': '0 * * * *',
}

_NUMBER = re.compile(r'[0-9]+\Z')
_UTC = datetime.timezone.utc


@dataclasses.dataclass(frozen=True)
class CronSpec:
    """A parsed cron expression: the values each field may take.

    A plain value, so it can be stored in the database and compared.
    `dayOfWeek` counts Sunday as 0, as cron does (`schedule` counts Monday
    as 0, as Python does).  A day field is restricted unless it was written
    starting with ``*``, as in Vixie cron.  When both day fields are
    restricted a day matches if either does; otherwise it must match both,
    which for a plain ``*`` means that only the other one counts.
    """
    expression: str
    minute: tuple
    hour: tuple
    dayOfMonth: tuple
    month: tuple
    dayOfWeek: tuple
    dayOfMonthRestricted: bool
    dayOfWeekRestricted: bool

    @property
    def dayOr(self) -> bool:
        """True when a day matching either day field fires."""
        return self.dayOfMonthRestricted and self.dayOfWeekRestricted


def parseCron(expression: str) -> CronSpec:
    """Parse a five-field cron expression or a macro such as ``@daily``.

    Raises ScheduleError naming the field and the value at fault, and for
    an expression that can never fire, so that a mistake shows when the job
    is made and not as a job that silently never runs.
    """
    if not isinstance(expression, str):
        raise ScheduleError(
            f'cron expression must be a string, not {expression!r}')
    # ASCII, its fields apart by spaces and tabs: what is taken can be
    # said exactly (the API's schema does, as a pattern).
    if not expression.isascii():
        raise ScheduleError(f'cron expression {expression!r} is not ASCII')
    text = expression.strip(' \t')
    if text.startswith('@'):
        if text.lower() not in MACROS:
            raise ScheduleError(f'unknown cron macro {text!r}')
        text = MACROS[text.lower()]
    fields = re.split('[ \t]+', text) if text else []
    if len(fields) != len(FIELDS):
        raise ScheduleError(
            f'cron expression {expression!r} has {len(fields)} '
            f'field{"" if len(fields) == 1 else "s"}, '
            f'expected {len(FIELDS)}')
    values = [_parseField(field, *definition)
              for field, definition in zip(fields, FIELDS, strict=True)]
    spec = CronSpec(
        expression, *values,
        dayOfMonthRestricted=not fields[2].startswith('*'),
        dayOfWeekRestricted=not fields[4].startswith('*'))
    if not _canFire(spec):
        raise ScheduleError(f'cron expression {expression!r} never fires')
    return spec


def checkTimezone(name: str | None) -> str:
    """Return the IANA zone `name` if zoneinfo knows it; None means 'UTC'.

    Checked when a job is made, so that a typo does not wait for the first
    run to show.
    """
    if name is None:
        return 'UTC'
    _zone(name)
    return name


def nextCronTime(spec: CronSpec | str, now: float,
                 timezone: str | None = None) -> float:
    """The first instant strictly after `now` at which `spec` fires.

    `now` and the result are UTC epoch seconds; the fields are read on the
    wall clock of the IANA zone `timezone` (None means UTC).  See the module
    docstring for the rules on the days clocks change.
    """
    if isinstance(spec, str):
        spec = parseCron(spec)
    zone = _zone(timezone)
    start = _firstWallMinute(zone, now)
    wall = _nextWallTime(spec, start)
    if wall is None:
        raise ScheduleError(
            f'cron expression {spec.expression!r} never fires')
    return _instant(zone, wall)


def fieldsAsCron(minute=(), hour=(), dayOfMonth=(), month=(),
                 dayOfWeek=()) -> str | None:
    """The cron expression that fires when a tuple schedule does, or None.

    Tuple schedules count weekdays from Monday as 0, cron from Sunday; the
    expression names the days and months (``mon-fri``, ``jan,jul``) so
    that no reader can take one numbering for the other.  The fields a
    tuple schedule pins are written out.  When both day fields restrict
    the days there is none: a tuple schedule needs both to match, cron
    either.
    """
    minutes, hours, days, months, weekdays = effectiveFields(
        minute, hour, dayOfMonth, month, dayOfWeek)
    if len(days) < 31 and len(weekdays) < 7:
        return None
    weekdays = sorted((day + 1) % 7 for day in weekdays)
    return ' '.join((
        _cronField(minutes, 0, 59), _cronField(hours, 0, 23),
        _cronField(days, 1, 31), _cronField(months, 1, 12, MONTH_NAMES),
        _cronField(weekdays, 0, 6, DAY_NAMES)))


def _cronField(values, low, high, names=None) -> str:
    """One field of an expression for sorted `values`: ``*``, a step
    (``*/15``, ``9-17/2``, numbers only), or values and ranges."""
    values = list(values)
    if values == list(range(low, high + 1)):
        return '*'
    step = values[1] - values[0] if len(values) > 2 else 0
    if names is None and step > 1 and values[-1] + step > high and \
            values == list(range(values[0], high + 1, step)):
        first = '*' if values[0] == low else f'{values[0]}-{values[-1]}'
        return f'{first}/{step}'

    def text(value):
        return str(value) if names is None else names[value - low]
    return ','.join(spans(values, text, '-'))


def _parseField(text, name, low, high, top, names) -> tuple:
    """Expand one field into the sorted tuple of the values it allows."""
    values = set()
    for part in text.split(','):
        if not part:
            raise ScheduleError(f'{name} field {text!r} has an empty part')
        values.update(_parsePart(part, name, low, high, top, names))
    # Values past the top are aliases that wrap around: 7 is Sunday, 0.
    return tuple(sorted({value - (top - low + 1) if value > top else value
                         for value in values}))


def _parsePart(part, name, low, high, top, names) -> range:
    """Expand one comma-separated part: a value, a range, with a step."""
    base, slash, stepText = part.partition('/')
    step = 1
    if slash:
        if not _NUMBER.match(stepText):
            raise ScheduleError(f'{name} step {stepText!r} in {part!r} '
                                'is not a number')
        step = int(stepText)
        if step == 0:
            raise ScheduleError(f'{name} step in {part!r} must not be 0')
    if base == '*':
        first, last = low, top
    elif '-' in base:
        firstText, _, lastText = base.partition('-')
        first = _parseValue(firstText, part, name, low, high, names)
        last = _parseValue(lastText, part, name, low, high, names)
        alias = last + top - low + 1
        if first > last and lastText.lower() in names and alias <= high:
            last = alias    # sat-sun: Sunday as 7
        if first > last:
            raise ScheduleError(f'{name} range {base!r} is reversed')
    else:
        first = _parseValue(base, part, name, low, high, names)
        last = first
        if slash:
            if first > top:
                first -= top - low + 1    # 7/2: from Sunday as 0
            last = top
    return range(first, last + 1, step)


def _parseValue(text, part, name, low, high, names) -> int:
    """One number or name, checked against the field's range."""
    if _NUMBER.match(text):
        value = int(text)
        if not low <= value <= high:
            raise ScheduleError(
                f'{name} value {value} is out of range {low}-{high}')
        return value
    if text.lower() in names:
        return names[text.lower()]
    if names and text.isalpha():
        raise ScheduleError(f'{name} name {text!r} is unknown')
    raise ScheduleError(f'{name} value {text or part!r} is not a number')


def _canFire(spec: CronSpec) -> bool:
    """Whether some day of the 400-year calendar cycle matches.

    Under the either-day rule a weekday always comes.  Otherwise every
    possible date falls on every weekday somewhere in the cycle, so only
    the month and day of month can rule a day out.
    """
    if spec.dayOr:
        return True
    return any(day <= LONGEST_MONTH[month - 1]
               for month in spec.month for day in spec.dayOfMonth)


def _zone(name: str | None) -> datetime.tzinfo:
    """The tzinfo for the zone `name`, or ScheduleError."""
    if name is None or name == 'UTC':
        return _UTC
    if not isinstance(name, str):
        raise ScheduleError(f'time zone must be a string, not {name!r}')
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f'unknown time zone {name!r}') from None


def _offset(zone, instant: int) -> int:
    """The zone's UTC offset in seconds at `instant`."""
    when = datetime.datetime.fromtimestamp(instant, zone)
    return int(when.utcoffset().total_seconds())


def _wallOffsets(zone, wall: int):
    """The offsets of a wall time read before (fold 0) and after (fold 1)
    a change of the clock; they are equal away from such changes."""
    naive = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=wall)
    return tuple(
        int(naive.replace(tzinfo=zone, fold=fold).utcoffset().total_seconds())
        for fold in (0, 1))


def _transition(zone, before: int, after: int) -> int:
    """The first instant in (before, after] with the offset of `after`,
    found by halving: the zone changes its offset once in between."""
    offset = _offset(zone, after)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset(zone, middle) == offset:
            after = middle
        else:
            before = middle
    return after


def _instant(zone, wall: int) -> int:
    """The instant a wall time (seconds on the local clock) fires.

    A skipped wall time fires at the end of the gap; a repeated one at its
    first occurrence.
    """
    early, late = _wallOffsets(zone, wall)
    if early < late:
        # Skipped: read with the old offset it is past the change, with
        # the new one before it.  The gap ends at the change.
        return _transition(zone, wall - late, wall - early)
    return wall - early


def _firstWallMinute(zone, now: float) -> int:
    """The first whole wall minute whose instant is strictly after `now`.

    Usually the minute after the wall time of `now`; during the second
    pass through a repeated hour, the end of that hour, since the repeated
    wall times fired on the first pass.
    """
    instant = math.floor(now)
    local = datetime.datetime.fromtimestamp(instant, zone)
    offset = int(local.utcoffset().total_seconds())
    start = (instant + offset) // 60 * 60 + 60
    if local.fold:
        early, late = _wallOffsets(zone, instant + offset)
        change = _transition(zone, instant - (early - late), instant)
        end = change + early
        start = max(start, -(-end // 60) * 60)
    return start


def _nextWallTime(spec: CronSpec, wall: int) -> int | None:
    """The first wall time at or after `wall` (a whole minute, as seconds
    on the local clock) that matches `spec`, or None."""
    return walkCalendar(
        wall, spec.month, spec.hour, spec.minute,
        lambda year, month, day: _firstDay(spec, year, month, day))


def _firstDay(spec: CronSpec, year: int, month: int,
              start: int) -> int | None:
    """The first day >= `start` of the month that matches the day fields."""
    last = calendar.monthrange(year, month)[1]
    if start > last:
        return None
    # Sunday is 0 in cron, 6 in Python.
    weekday = (calendar.weekday(year, month, start) + 1) % 7
    if spec.dayOr:
        nextWeekday = firstFrom(spec.dayOfWeek, weekday)
        if nextWeekday is None:
            nextWeekday = spec.dayOfWeek[0] + 7
        found = start + nextWeekday - weekday
        byDate = firstFrom(spec.dayOfMonth, start)
        if byDate is not None:
            found = min(found, byDate)
        return found if found <= last else None
    day = firstFrom(spec.dayOfMonth, start)
    while day is not None and day <= last:
        if (weekday + day - start) % 7 in spec.dayOfWeek:
            return day
        day = firstFrom(spec.dayOfMonth, day + 1)
    return None
