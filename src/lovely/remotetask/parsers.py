"""The command line of the commands in `commands` and `reports`, beside
`serve` and `worker` (see `cli`)."""
import argparse
import re

from lovely.remotetask import arguments
from lovely.remotetask.commands import (
    FAILED, MAX_BATCH, RESULT_STATUSES, RETRY_BATCH, RETRYABLE, add, cancel,
    checkRetry, checkSchedule, clean, cron, init, pack, pause, resume,
    retry, run, runNow, start)
from lovely.remotetask.defaults import PACK_KEEP_MIN
from lovely.remotetask.interfaces import ERROR, FINISHED
from lovely.remotetask.listing import TASK_SCAN
from lovely.remotetask.reports import (
    jobs, result, services, show, status, workers)
from lovely.remotetask.schedule import MISSED_POLICIES
from lovely.remotetask.serialize import SCHEDULE_FIELDS, STATUSES
from lovely.remotetask.service import MAX_JOB_ID, PRIORITIES


def takeLateInput(args, extras) -> list:
    """Take a job's input given after options (``add TASK --priority 5
    INPUT``), which argparse leaves over when the positional before it
    stood alone; return what is still left over."""
    if len(extras) != 1 or getattr(args, 'input', True) is not None or \
            (extras[0].startswith('-') and not _NUMBER.match(extras[0])):
        return extras
    try:
        args.input = arguments.jsonInput(extras[0])
    except argparse.ArgumentTypeError as error:
        args.parser.error(f'argument input: {error}')
    return []


_NUMBER = re.compile(r'^-\d|^-\.\d')


_FIELD_HELP = dict(
    month='numbers and ranges (1,7 or 1-3), names (jan,jul-sep), or * '
    'for every one',
    dayOfWeek='days by name (mon-fri, sat,sun), or numbers from 0 (Monday) '
    'to 6 (Sunday), or * for every one')


def addParsers(commands, common) -> None:
    """The parsers of these commands, beside `serve` and `worker`."""
    # The page sizes are the API's; web.settings loads without the Web stack.
    from lovely.remotetask.web import settings as webSettings
    database = argparse.ArgumentParser(add_help=False, parents=[common])
    arguments.addDatabase(database)
    database.add_argument('--json', action='store_true',
                          help='print JSON, as the API answers')
    servicePath = arguments.word('a service path')
    shared = argparse.ArgumentParser(add_help=False, parents=[database])
    shared.add_argument('--service', required=True, metavar='PATH',
                        type=servicePath,
                        help='the service: its path, as site.name (or '
                        'site@name)')

    def command(name, function, help, write, epilog=None, parents=None,
                **options):
        parser = commands.add_parser(name, parents=parents or [shared],
                                     help=help, epilog=epilog,
                                     description=help[0].upper() + help[1:]
                                     + '.')
        parser.set_defaults(command=lambda args: run(
            function, args, write, **options), parser=parser)
        return parser

    jobid = arguments.integer(0, MAX_JOB_ID, 'a job id')
    task = arguments.word('the name of a task')
    command('init', init, 'make a task service at a path, and the '
            'database if there is none', write=True, create=True,
            service=False)
    parser = command('add', add, 'add a job; prints its id', write=True)
    parser.add_argument('task', type=task)
    parser.add_argument('input', nargs='?', type=arguments.jsonInput,
                        help='the input, as JSON (quote a string twice: '
                        '\'"text"\')')
    parser.add_argument('--start-later', action='store_true',
                        help='wait for a start (API or dashboard)')
    parser.add_argument('--priority', default=0, metavar='N',
                        type=arguments.integer(PRIORITIES.start,
                                               PRIORITIES.stop - 1),
                        help='higher runs first (default 0)')
    parser.add_argument('--key', type=arguments.word('a key'),
                        help='add nothing while a job with this key waits '
                        'or runs')
    parser = command('cron', cron, 'add a cron or delayed job; prints its '
                     'id', write=True, check=checkSchedule)
    parser.add_argument('task', type=task)
    parser.add_argument('input', nargs='?', type=arguments.jsonInput,
                        help='the input, as JSON')
    parser.add_argument('--cron', type=arguments.word('a cron expression'),
                        metavar='EXPRESSION', help='a cron expression, '
                        'as \'*/5 * * * *\'')
    parser.add_argument('--timezone', type=arguments.word('a time zone'),
                        help='the zone of --cron, as Europe/Vienna')
    for name in SCHEDULE_FIELDS:
        parser.add_argument(f'--{name}', metavar='VALUES',
                            type=arguments.scheduleField(name),
                            help=_FIELD_HELP.get(name, 'numbers and ranges '
                                                 '(0,30 or 9-17), or * for '
                                                 'every one') + ' (UTC)')
    parser.add_argument('--delay', metavar='SECONDS',
                        type=arguments.seconds(0, 100 * 365 * arguments.DAY),
                        help='run once, after this many seconds')
    parser.add_argument('--missed', default='once',
                        type=arguments.choice(MISSED_POLICIES, 'policy',
                                              'policies'),
                        help='runs missed while nothing processed: once '
                        '(default), each or skip')
    parser.add_argument('--grace-time', metavar='SECONDS',
                        type=arguments.seconds(0, 365 * arguments.DAY),
                        help='how late a run may start; later ones count '
                        'as missed')
    parser.add_argument('--overlap', action='store_true',
                        help='start a run while the last one still runs')
    for name, function, help, write, epilog in (
            ('status', status, 'print a job\'s status', False, None),
            ('result', result, 'print a job\'s result; the exit status '
             'says what became of it', False, RESULT_STATUSES),
            ('show', show, 'print everything about a job, its attempts '
             'included', False, None),
            ('start', start, 'start a job added with --start-later', True,
             None),
            ('cancel', cancel, 'cancel a job', True, None)):
        parser = command(name, function, help, write, epilog)
        parser.add_argument('jobid', type=jobid, metavar='JOBID')
    parser = command('retry', retry, 'run a failed or cancelled job again, '
                     'as a new attempt of the same job, or every one with '
                     '--all', write=True, check=checkRetry,
                     epilog='A retried job keeps its id and history; its '
                     'retry policy counts attempts anew; a cron job goes '
                     'back to its schedule.')
    parser.add_argument('jobid', nargs='?', type=jobid, metavar='JOBID')
    parser.add_argument('--all', action='store_true',
                        help='retry every failed job (or those of --status '
                        'and --task), oldest first, in batches')
    parser.add_argument('--status', type=arguments.choice(
        RETRYABLE, 'status to retry', 'statuses retried'),
        help=f'with --all: the jobs of this status ({" or ".join(RETRYABLE)};'
        f' default {ERROR})')
    parser.add_argument('--task', type=task,
                        help='with --all: only the jobs of this task')
    parser.add_argument('--batch', metavar='N',
                        type=arguments.integer(1, MAX_BATCH),
                        help='with --all: jobs retried per transaction '
                        f'(default {RETRY_BATCH})')
    parser = command('run-now', runNow, 'queue a run of a cron job now, '
                     'besides its schedule; prints the id of the run',
                     write=True)
    parser.add_argument('jobid', type=jobid, metavar='JOBID')
    for name, function, help in (
            ('pause', pause, 'pause the service: no worker claims its jobs '
             'until resumed (the jobs in hand finish); or with a JOBID, '
             'pause a cron job: its runs are skipped'),
            ('resume', resume, 'resume a paused service, or with a JOBID a '
             'paused cron job')):
        parser = command(name, function, help, write=True)
        parser.add_argument('jobid', nargs='?', type=jobid, metavar='JOBID',
                            help='a cron job (without one, the service)')
    parser = commands.choices['result']
    parser.add_argument('--wait', action='store_true',
                        help='wait until the job is finished, showing its '
                        'progress')
    parser.add_argument('--timeout', metavar='SECONDS',
                        type=arguments.seconds(0, 365 * arguments.DAY,
                                               positive=True),
                        help='wait at most this long (implies --wait)')
    parser = command('jobs', jobs, 'list jobs, a page at a time',
                     write=False)
    parser.add_argument('--status',
                        type=arguments.choice(STATUSES, 'status',
                                              'statuses'),
                        help='only the jobs of this status, in its order '
                        '(without: every job, newest first)')
    parser.add_argument('--after', metavar='CURSOR', type=arguments.cursor,
                        help='the cursor of a page, as the one before '
                        'printed it')
    parser.add_argument('--task', type=task,
                        help='only the jobs of this task (a page reads at '
                        f'most {TASK_SCAN} jobs, so it may come short)')
    parser.add_argument('--limit', default=webSettings.PAGE_SIZE,
                        metavar='N', type=arguments.integer(
                            1, webSettings.MAX_PAGE_SIZE),
                        help='jobs on a page (default '
                        f'{webSettings.PAGE_SIZE}, as the API)')
    for name, function, help in (
            ('services', services, 'list the services (or --service): '
             'jobs by status, queue, oldest waiting job, workers and '
             'whether paused'),
            ('workers', workers, 'list the workers of the services (or of '
             '--service): host, pid, heartbeat and jobs in hand')):
        parser = command(name, function, help, write=False,
                         parents=[database], service=False)
        parser.add_argument('--service', metavar='PATH', type=servicePath,
                            help='only this service')
    parser = command('clean', clean, 'remove finished jobs, in batches',
                     write=True)
    parser.add_argument('--status', action='append',
                        type=arguments.choice(FINISHED, 'finished status',
                                              'finished statuses'),
                        help='remove only jobs of this status (repeatable)')
    parser.add_argument('--batch', default=1000, metavar='N',
                        type=arguments.integer(1, MAX_BATCH),
                        help='jobs removed per transaction (default 1000)')
    packHelp = ('pack the database: drop the history older than --days, and '
                'the finished jobs past their services\' retention')
    parser = commands.add_parser(
        'pack', parents=[common], help=packHelp,
        description=packHelp[0].upper()
        + packHelp[1:] + '.', epilog='One pack runs at a time; a pack that '
        f'finds another running does nothing and exits with {FAILED}.')
    parser.set_defaults(command=lambda args: run(
        pack, args, write=True, service=False), parser=parser)
    arguments.addDatabase(parser)
    parser.add_argument('--days', default=None, metavar='N',
                        type=arguments.days(
                            leastSeconds=PACK_KEEP_MIN,
                            why='transactions that run while a pack works '
                                'may still read the history it drops'),
                        help='keep the history of the last N days (default: '
                        f'the last {PACK_KEEP_MIN:g} seconds, the least a '
                        'pack keeps)')
    parser.add_argument('--no-keep-old', dest='keep_old',
                        action='store_false',
                        help='remove the copy of a FileStorage that its '
                        'pack leaves (Data.fs.old) once the pack is done')
    parser.add_argument('--json', action='store_true',
                        help='print what the pack did as JSON')
