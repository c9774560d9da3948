"""The commands of jobs on a schedule: cron adds a cron or delayed job,
run-now queues a run of one besides its schedule."""
import re

from lovely.remotetask.cli import values
from lovely.remotetask.cli.common import (
    CommandError, getJob, output, unknownTask)
from lovely.remotetask.cli.options import (
    addJobId, addOption, command, taskName)
from lovely.remotetask.exceptions import UnknownTaskError
from lovely.remotetask.interfaces import QUEUED
from lovely.remotetask.timing.schedule import MISSED_POLICIES
from lovely.remotetask.serialize import SCHEDULE_FIELDS

_FIELD_HELP = dict(
    month='numbers and ranges (1,7 or 1-3), names (jan,jul-sep), or * '
    'for every one',
    dayOfWeek='days by name (mon-fri, sat,sun, monday; any case), or '
    'numbers from 0 (Monday) to 6 (Sunday), as the 2009 fields count them '
    '(--cron counts as cron does, from 0 for Sunday), or * for every one')


def optionName(field: str) -> str:
    """The option of a schedule field: --day-of-week for dayOfWeek."""
    return '--' + re.sub('[A-Z]', lambda upper: '-' + upper[0].lower(),
                         field)


def checkSchedule(args):
    fields = [getattr(args, name) for name in SCHEDULE_FIELDS]
    if args.cron is None and args.delay is None and \
            all(field is None for field in fields):
        raise CommandError(
            "cron needs a schedule: --cron '0 9 * * 1-5', --delay SECONDS, "
            "or fields such as --minute 0 --hour 9 (--minute '*' for every "
            "minute)")


def cron(target, args):
    fields = {name: getattr(args, name) or () for name in SCHEDULE_FIELDS}
    try:
        jobid = target.service.addCronJob(
            args.task, args.input, **fields, delay=args.delay,
            cron=args.cron, timezone=args.timezone, missed=args.missed,
            graceTime=args.grace_time, overlap=args.overlap)
    except UnknownTaskError as error:
        raise unknownTask(error, args) from None
    target.commit()
    output(args, {'id': jobid}, jobid)


def runNow(target, args):
    job = getJob(target, args.jobid)
    runid = target.service.runNow(job.id)
    target.commit()
    output(args, {'id': runid, 'runOf': job.id, 'status': QUEUED}, runid)


def addParsers(commands) -> None:
    parser = command(commands, 'cron', cron, 'add a cron or delayed job; '
                     'prints its id', write=True, check=checkSchedule)
    parser.add_argument('task', type=taskName)
    parser.add_argument('input', nargs='?', type=values.jsonInput,
                        help='the input, as JSON')
    parser.add_argument('--cron', type=values.word('a cron expression'),
                        metavar='EXPRESSION', help='a cron expression, '
                        'as \'*/5 * * * *\' or \'0 9 * * mon-fri\'; its '
                        'day of the week counts as cron does, 0 (and 7) for '
                        'Sunday to 6 for Saturday, or by name (any case)')
    parser.add_argument('--timezone', type=values.word('a time zone'),
                        help='the zone of --cron, as Europe/Vienna')
    for name in SCHEDULE_FIELDS:
        option = optionName(name)
        camel = (f'--{name}',) if option != f'--{name}' else ()
        addOption(parser, option, *camel, dest=name, metavar='VALUES',
                  type=values.scheduleField(name),
                  help=_FIELD_HELP.get(name, 'numbers and ranges (0,30 or '
                                       '9-17), or * for every one')
                  + ' (UTC)')
    parser.add_argument('--delay', metavar='SECONDS',
                        type=values.seconds(0, 100 * 365 * values.DAY),
                        help='run once, after this many seconds')
    parser.add_argument('--missed', default='once',
                        type=values.choice(MISSED_POLICIES, 'policy',
                                           'policies'),
                        help='runs missed while nothing processed: once '
                        '(default), each or skip')
    parser.add_argument('--grace-time', metavar='SECONDS',
                        type=values.seconds(0, 365 * values.DAY),
                        help='how late a run may start; later ones count '
                        'as missed')
    parser.add_argument('--overlap', action='store_true',
                        help='start a run while the last one still runs')
    addJobId(command(commands, 'run-now', runNow, 'queue a run of a cron '
                     'job now, besides its schedule; prints the id of the '
                     'run', write=True))
