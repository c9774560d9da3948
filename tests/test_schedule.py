"""The schedule arithmetic, checked against a plain walk over the calendar."""
import calendar
import datetime
import random
import re

import pytest

from lovely.remotetask.timing import cron, schedule
from lovely.remotetask.timing.describe import describeFields
from lovely.remotetask.exceptions import ScheduleError
from lovely.remotetask.store.jobs import CronJob
from lovely.remotetask.serialize import scheduleData, scheduleText

UTC = datetime.timezone.utc


def walkDays(now, minute, hour, dayOfMonth, month, dayOfWeek, years=30):
    """The reference: visit every day and test every field, the slow way."""
    minutes, hours, days, months, weekdays = schedule.effectiveFields(
        minute, hour, dayOfMonth, month, dayOfWeek)
    start = datetime.datetime.fromtimestamp(now, UTC)
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(years * 366):
        if (day.month in months and day.day in days
                and day.weekday() in weekdays):
            for h in hours:
                for m in minutes:
                    t = day.replace(hour=h, minute=m)
                    if t.timestamp() > now:
                        return calendar.timegm(t.timetuple())
        day += datetime.timedelta(days=1)
    return None


def randomFields(rnd):
    def some(low, high, chance):
        if rnd.random() > chance:
            return ()
        return tuple(sorted(rnd.sample(range(low, high + 1),
                                       rnd.randint(1, 3))))
    return dict(minute=some(0, 59, 0.6), hour=some(0, 23, 0.5),
                dayOfMonth=some(1, 31, 0.4), month=some(1, 12, 0.4),
                dayOfWeek=some(0, 6, 0.3))


@pytest.mark.parametrize('seed', range(400))
def test_agrees_with_a_walk_over_the_calendar(seed):
    rnd = random.Random(seed)
    fields = randomFields(rnd)
    now = rnd.uniform(0, 2_000_000_000)
    expected = walkDays(now, **fields)
    got = schedule.nextCallTime(now, **fields)
    if expected is None:
        # Beyond the walk's horizon: only the impossible or the rare.
        assert got is None or got > now + 29 * 365 * 86400
    else:
        assert got == expected, (fields, now)


def test_next_call_is_strictly_after_now():
    assert schedule.nextCallTime(600, minute=(10,)) == 600 + 3600
    assert schedule.nextCallTime(599.999, minute=(10,)) == 600


def test_fields_finer_than_the_finest_given_are_pinned():
    assert schedule.effectiveFields((), (3,), (), (), ())[0] == (0,)
    minutes, hours, days, months, weekdays = schedule.effectiveFields(
        (), (), (), (6,), ())
    assert (minutes, hours, days) == ((0,), (0,), (1,))
    assert len(weekdays) == 7


def test_rare_date_found_far_ahead():
    # 29 February on a Sunday: 2032 is a leap year on a Sunday.
    now = calendar.timegm((2026, 1, 1, 0, 0, 0))
    when = schedule.nextCallTime(now, month=(2,), dayOfMonth=(29,),
                                 dayOfWeek=(6,))
    assert datetime.datetime.fromtimestamp(when, UTC).date() == \
        datetime.date(2032, 2, 29)


@pytest.mark.parametrize('fields', [
    dict(month=(2,), dayOfMonth=(30,)),
    dict(month=(2,), dayOfMonth=(30, 31)),
    dict(month=(4, 6, 9, 11), dayOfMonth=(31,)),
])
def test_impossible_dates_give_none(fields):
    assert schedule.nextCallTime(0, **fields) is None


def test_year_end_rolls_over():
    now = calendar.timegm((2026, 12, 31, 23, 59, 0))
    assert schedule.nextCallTime(now) == calendar.timegm((2027, 1, 1, 0, 0, 0))
    assert schedule.nextCallTime(now, month=(12,), dayOfMonth=(31,),
                                 hour=(23,), minute=(59,)) == \
        calendar.timegm((2027, 12, 31, 23, 59, 0))


@pytest.mark.parametrize('field, value, message', [
    ('minute', (60,), 'minute value 60 is out of range 0-59'),
    ('minute', (-1,), 'minute value -1 is out of range 0-59'),
    ('hour', (24,), 'hour value 24 is out of range 0-23'),
    ('dayOfMonth', (0,), 'dayOfMonth value 0 is out of range 1-31'),
    ('dayOfMonth', (32,), 'dayOfMonth value 32 is out of range 1-31'),
    ('month', (0,), 'month value 0 is out of range 1-12'),
    ('month', (13,), 'month value 13 is out of range 1-12'),
    ('dayOfWeek', (7,), 'dayOfWeek value 7 is out of range 0-6'),
    ('minute', (1.5,), 'minute value 1.5 is not an int'),
    ('minute', ('5',), "minute value '5' is not an int"),
    ('minute', '5', "minute must be a tuple of ints in 0-59, not '5'"),
    ('minute', 5, 'minute must be a tuple of ints in 0-59, not 5'),
])
def test_bad_fields_are_named(field, value, message):
    with pytest.raises(ScheduleError) as info:
        schedule.checkSchedule(**{field: value})
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize('delay, message', [
    (-1, 'delay must not be negative, got -1'),
    ('10', "delay must be a number of seconds, not '10'"),
    (True, 'delay must be a number of seconds, not True'),
    (float('nan'), 'delay must be a number of seconds, not nan'),
])
def test_bad_delays_are_named(delay, message):
    with pytest.raises(ScheduleError, match=message):
        schedule.checkDelay(delay)


def test_checked_fields_are_sorted_and_unique():
    assert schedule.checkField('hour', [5, 1, 5]) == (1, 5)
    assert schedule.checkField('hour', range(3)) == (0, 1, 2)
    assert schedule.checkDelay(0) == 0
    assert schedule.nextDelayedTime(100, 0.5) == 100.5


@pytest.mark.parametrize('text, expected', [
    ('*', ()), ('', ()), ('0,15,30', (0, 15, 30)), ('1-3, 5', (1, 2, 3, 5)),
])
def test_field_text_is_read_as_people_write_it(text, expected):
    assert schedule.parseFieldText('minute', text) == expected


@pytest.mark.parametrize('text, message', [
    ('0-30000000', 'minute value 30000000 is out of range 0-59'),
    ('0-99999999999', 'minute value 99999999999 is out of range 0-59'),
    ('5-1', "minute range '5-1' runs backwards"),
    ('x', "minute value 'x' is not a number"),
    ('9' * 5000, "minute value '9999999999"),
])
def test_field_text_out_of_bounds_is_refused_before_it_is_expanded(
        text, message):
    # A huge range used to be expanded first: seconds and a gigabyte, or
    # a MemoryError.
    with pytest.raises(ScheduleError, match=re.escape(message)):
        schedule.parseFieldText('minute', text)


@pytest.mark.parametrize('text', ['\u0665', '+5', '1_0', '\x1c5', '5\n',
                                  '\u20035'])
def test_field_text_is_ascii_digits_and_blanks(text):
    """What int() and str.strip() would take besides can be said by no
    pattern of the API's schema: other scripts' digits, signs, separators
    and exotic blanks are refused."""
    with pytest.raises(ScheduleError, match='is not a number'):
        schedule.parseFieldText('minute', text)
    assert schedule.parseFieldText('minute', ' \t5\t, 7 ') == (5, 7)


@pytest.mark.parametrize('text, expected', [
    ('mon-fri', (0, 1, 2, 3, 4)), ('Sat,SUN', (5, 6)),
    ('monday, wednesday-Friday', (0, 2, 3, 4)), ('0,sun', (0, 6)),
])
def test_days_of_the_week_are_taken_by_name(text, expected):
    assert schedule.parseFieldText('dayOfWeek', text) == expected


def test_months_are_taken_by_name():
    assert schedule.parseFieldText('month', 'jan,July-sep,12') == \
        (1, 7, 8, 9, 12)


@pytest.mark.parametrize('name, text, message', [
    ('dayOfWeek', 'mo', "dayOfWeek value 'mo' is not a number or a day: use "
     "* for every day, numbers from 0 (Monday) to 6 (Sunday) and ranges "
     "such as 0-4, or names such as mon-fri"),
    ('dayOfWeek', 'sun-mon', "dayOfWeek range 'sun-mon' runs backwards"),
    ('month', 'smarch', "month value 'smarch' is not a number or a month"),
    ('hour', 'mon', "hour value 'mon' is not a number: use * for every hour"),
])
def test_names_belong_to_their_field(name, text, message):
    with pytest.raises(ScheduleError, match=re.escape(message)):
        schedule.parseFieldText(name, text)


# Schedules shown

EVERY = dict(minute=tuple(range(0, 60, 15)), hour=tuple(range(9, 18)),
             dayOfWeek=tuple(range(5)))


@pytest.mark.parametrize('fields, words, asCron', [
    # Monday is 0 here and 1 in cron: shown by name, never as '0 9 * * 0'.
    (dict(minute=(0,), hour=(9,), dayOfWeek=(0,)), 'at 09:00 on Monday',
     '0 9 * * mon'),
    (dict(dayOfWeek=(6,)), 'at 00:00 on Sunday', '0 0 * * sun'),
    (dict(dayOfWeek=(5, 6)), 'at 00:00 on Saturday and Sunday',
     '0 0 * * sun,sat'),
    ({}, 'every minute', '* * * * *'),
    (dict(hour=(2,)), 'at 02:00 every day', '0 2 * * *'),
    (dict(minute=(0, 10)), 'every hour at :00 and :10', '0,10 * * * *'),
    (dict(month=(1, 5, 12)), 'at 00:00 on the 1st in January, May and '
     'December', '0 0 1 jan,may,dec *'),
    (dict(minute=(10,), dayOfMonth=(1, 2, 3, 22)), 'every hour at :10 on '
     'the 1st to 3rd and 22nd', '10 * 1-3,22 * *'),
    (EVERY, 'at :00, :15, :30 and :45 of the hours 09 to 17 on Monday to '
     'Friday', '*/15 9-17 * * mon-fri'),
    (dict(minute=tuple(range(60)), hour=(9,)),
     'every minute from 09:00 to 09:59', '* 9 * * *'),
    (dict(minute=(0, 30), hour=(9, 17)),
     'at 09:00, 09:30, 17:00 and 17:30 every day', '0,30 9,17 * * *'),
    # Both day fields must match: cron would take either, so no cron.
    (dict(dayOfMonth=(13,), dayOfWeek=(4,)),
     'at 00:00 on the 13th if it is a Friday', None),
    (dict(dayOfMonth=tuple(range(1, 8)), dayOfWeek=(0,)),
     'at 00:00 on the 1st to 7th if it is a Monday', None),
    (dict(dayOfMonth=(13,), dayOfWeek=tuple(range(7))),
     'at 00:00 on the 13th', '0 0 13 * *'),
])
def test_tuple_schedules_are_shown_in_words_and_cron(fields, words, asCron):
    assert describeFields(**fields) == words
    assert cron.fieldsAsCron(**fields) == asCron
    job = CronJob(1, 'echo', None, **fields)
    assert scheduleText(job) == words + ' (UTC)'
    data = scheduleData(job)
    assert (data['text'], data['asCron']) == (words + ' (UTC)', asCron)


def test_cron_and_delayed_schedules_are_shown_as_given():
    job = CronJob(1, 'echo', None, cron='0 9 * * mon', timezone='Asia/Tokyo')
    assert scheduleText(job) == '0 9 * * mon (Asia/Tokyo)'
    assert scheduleData(job)['asCron'] is None
    assert scheduleText(CronJob(1, 'echo', None, cron='@daily')) == '@daily'
    assert scheduleText(CronJob(1, 'echo', None, delay=30)) == \
        'once, 30 s after it was added'


@pytest.mark.parametrize('seed', range(300))
def test_the_cron_shown_fires_when_the_fields_do(seed):
    rnd = random.Random(seed)
    fields = randomFields(rnd)
    expression = cron.fieldsAsCron(**fields)
    minutes, hours, days, months, weekdays = schedule.effectiveFields(**fields)
    if len(days) < 31 and len(weekdays) < 7:
        assert expression is None
        return
    now = rnd.uniform(0, 2_000_000_000)
    for _ in range(3):
        expected = schedule.nextCallTime(now, **fields)
        if expected is None:
            break
        assert cron.nextCronTime(expression, now) == expected, \
            (fields, expression)
        now = expected
