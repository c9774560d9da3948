"""Commands for scripts and people: add, status, result, cancel, jobs,
clean and cron, on the services of a database named by URI.

Each command is one transaction on its own connection; ``--json`` prints
what the JSON API would answer, for scripts.
"""
import argparse
import importlib
import json
import sys
import time

import transaction

from lovely.remotetask.database import DatabaseError, openDatabase
from lovely.remotetask.exceptions import RemoteTaskError
from lovely.remotetask.schedule import parseFieldText
from lovely.remotetask.interfaces import FINISHED
from lovely.remotetask.serialize import (
    SCHEDULE_FIELDS, formatTime, jobData, jsonValue)
from lovely.remotetask.locate import (
    applicationRoot, findService, listServices)


class CommandError(Exception):
    """One line to print; the command exits 2."""


def importTasks(modules) -> None:
    """Import the modules that register tasks, or say which failed."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:
            raise CommandError(f'cannot import tasks module {module!r}: '
                               f'{type(error).__name__}: {error}') from None


class _Session:
    """The database of a command, and the service it names."""

    def __init__(self, args) -> None:
        try:
            self.db = openDatabase(args.db, args.connect_timeout)
        except DatabaseError as error:
            raise CommandError(str(error)) from None
        self.tm = transaction.TransactionManager()
        self.connection = self.db.open(transaction_manager=self.tm)
        root = applicationRoot(self.connection, args.root_key)
        try:
            entry = findService(root, args.service)
        except RemoteTaskError:
            self.close()
            raise
        if entry is None:
            known = ', '.join(e.path for e in listServices(root))
            self.close()
            raise CommandError(f'no service {args.service!r}; the database '
                               f'has: {known or "no services"}')
        self.service = entry.service

    def commit(self) -> None:
        self.tm.commit()

    def refresh(self) -> None:
        self.tm.begin()

    def close(self) -> None:
        self.tm.abort()
        self.connection.close()
        self.db.close()


def run(command, args) -> int:
    """Run `command(session, args)`; bad input and service errors are one
    line on stderr and exit status 2."""
    session = None
    try:
        importTasks(args.tasks)
        session = _Session(args)
        return command(session, args) or 0
    except (CommandError, RemoteTaskError) as error:
        print(f'remotetask: {error}', file=sys.stderr)
        return 2
    finally:
        if session is not None:
            session.close()


def _input(text):
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f'the input is not JSON: {error}') from None


def _show(args, data, text) -> None:
    print(json.dumps(data, indent=1) if args.json else text)


def add(session, args):
    jobid = session.service.add(
        args.task, _input(args.input), startLater=args.start_later,
        priority=args.priority, key=args.key)
    session.commit()
    _show(args, {'id': jobid}, jobid)


def cron(session, args):
    fields = {name: parseFieldText(name, getattr(args, name) or '')
              for name in SCHEDULE_FIELDS}
    jobid = session.service.addCronJob(
        args.task, _input(args.input), **fields, delay=args.delay,
        cron=args.cron, timezone=args.timezone, missed=args.missed)
    session.commit()
    _show(args, {'id': jobid}, jobid)


def status(session, args):
    job = session.service.jobs.get(args.jobid)
    if job is None:
        raise CommandError(f'no job with id {args.jobid}')
    _show(args, jobData(job, None), job.status)


def result(session, args):
    service, jobid = session.service, args.jobid
    service.getStatus(jobid)
    if args.wait is not None:
        deadline = time.monotonic() + args.wait
        while service.getStatus(jobid) not in FINISHED:
            if time.monotonic() > deadline:
                raise CommandError(f'job {jobid} is still '
                                   f'{service.getStatus(jobid)} after '
                                   f'{args.wait:g} s')
            _progressLine(service, jobid)
            time.sleep(0.2)
            session.refresh()
        _progressLine(None, None)
    job = service.jobs[jobid]
    data = dict(id=jobid, status=job.status, result=jsonValue(job.output),
                error=job.error)
    _show(args, data, job.error if job.status == 'error'
          else json.dumps(jsonValue(job.output)))
    return 1 if job.status == 'error' else 0


def _progressLine(service, jobid) -> None:
    """What a waiting job does, on one line of stderr that keeps changing."""
    if not sys.stderr.isatty():
        return
    if service is None:
        sys.stderr.write('\r\033[K')
        return
    progress = service.getProgress(jobid)
    text = service.getStatus(jobid)
    if progress is not None:
        text += f' {progress["fraction"]:.0%} {progress["message"]}'
    sys.stderr.write(f'\r\033[K{text}')
    sys.stderr.flush()


def cancel(session, args):
    session.service.cancel(args.jobid)
    session.commit()
    _show(args, {'id': args.jobid,
                 'status': session.service.getStatus(args.jobid)},
          session.service.getStatus(args.jobid))


def jobs(session, args):
    page, cursor = session.service.jobsPage(args.status, args.after,
                                            args.limit)
    if args.json:
        _show(args, {'jobs': [jobData(job, None) for job in page],
                     'next': cursor}, None)
        return
    for job in page:
        print(f'{job.id:>10}  {job.status:<11} {job.task:<20} '
              f'{formatTime(job.created)}')
    if cursor is not None:
        print(f'more: --after {cursor}', file=sys.stderr)


def clean(session, args):
    statuses = args.status or list(FINISHED)
    removed = 0
    while True:
        batch = session.service.clean(statuses, limit=args.batch)
        session.commit()
        removed += batch
        if sys.stderr.isatty():
            sys.stderr.write(f'\r\033[Kremoved {removed}')
        if batch < args.batch:
            break
        session.refresh()
    if sys.stderr.isatty():
        sys.stderr.write('\n')
    _show(args, {'removed': removed}, removed)


def addParsers(commands, common) -> None:
    """The parsers of these commands, beside `serve` and `worker`."""
    shared = argparse.ArgumentParser(add_help=False, parents=[common])
    shared.add_argument('--db', required=True, metavar='URI',
                        help='the database')
    shared.add_argument('--service', required=True, metavar='PATH',
                        help='the service: its path, as site.name (or site@name)')
    shared.add_argument('--json', action='store_true',
                        help='print JSON, as the API answers')

    def command(name, function, help):
        parser = commands.add_parser(name, parents=[shared], help=help)
        parser.set_defaults(command=lambda args: run(function, args))
        return parser

    parser = command('add', add, 'add a job; prints its id')
    parser.add_argument('task')
    parser.add_argument('input', nargs='?', help='the input, as JSON')
    parser.add_argument('--start-later', action='store_true')
    parser.add_argument('--priority', type=int, default=0)
    parser.add_argument('--key', help='add nothing while a job with this '
                        'key waits or runs')
    parser = command('cron', cron, 'add a cron or delayed job')
    parser.add_argument('task')
    parser.add_argument('input', nargs='?', help='the input, as JSON')
    parser.add_argument('--cron', help='a cron expression')
    parser.add_argument('--timezone', help='the zone of --cron')
    for name in SCHEDULE_FIELDS:
        parser.add_argument(f'--{name}', metavar='VALUES',
                            help='numbers and ranges, or *')
    parser.add_argument('--delay', type=float, help='run once, after this '
                        'many seconds')
    parser.add_argument('--missed', default='once',
                        help='once, each or skip')
    for name, function, help in (
            ('status', status, 'print a job\'s status'),
            ('result', result, 'print a job\'s result (or error)'),
            ('cancel', cancel, 'cancel a job')):
        parser = command(name, function, help)
        parser.add_argument('jobid', type=int)
    commands.choices['result'].add_argument(
        '--wait', type=float, nargs='?', const=3600, metavar='SECONDS',
        help='wait until the job is finished, showing its progress')
    parser = command('jobs', jobs, 'list jobs, a page at a time')
    parser.add_argument('--status')
    parser.add_argument('--after', type=int, help='the cursor of a page')
    parser.add_argument('--limit', type=int, default=50)
    parser = command('clean', clean, 'remove finished jobs, in batches')
    parser.add_argument('--status', action='append',
                        choices=list(FINISHED))
    parser.add_argument('--batch', type=int, default=1000)
