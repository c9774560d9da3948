"""The command line: ``remotetask worker`` (or ``python -m lovely.remotetask``).

A worker process imports the modules that register the tasks, opens the
database and runs the processors of the services its directives name, until
SIGTERM or SIGINT; then it stops claiming, finishes the jobs in hand within
a grace period, records them and exits.
"""
import argparse
import importlib
import logging
import signal
import sys
import threading
from typing import List, Optional

from lovely.remotetask import autostart, processing
from lovely.remotetask.database import (
    CONNECT_TIMEOUT, DatabaseError, openDatabase)
from lovely.remotetask.folder import APPLICATION_ROOT_KEY
from lovely.remotetask.processor import WAIT_TIME, MultiProcessor
from lovely.remotetask.workers import LEASE_TIME

#: Seconds a stopping worker gives the jobs in hand to finish.
GRACE_TIME = 30.0

log = logging.getLogger('lovely.remotetask')


class UsageError(Exception):
    """Bad input on the command line: one line to print, then exit 2."""


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except UsageError as error:
        print(f'remotetask: {error}', file=sys.stderr)
        return 2


def worker(args) -> int:
    for module in args.tasks:
        try:
            importlib.import_module(module)
        except Exception as error:
            raise UsageError(f'cannot import tasks module {module!r}: '
                             f'{type(error).__name__}: {error}') from None
    try:
        db = openDatabase(args.db, args.connect_timeout)
    except DatabaseError as error:
        raise UsageError(str(error)) from None
    # Logging starts once the input was found good: bad input is one line.
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        overrides = dict(leaseTime=args.lease, waitTime=args.wait_time)
        factory = None
        if args.threads:
            factory, overrides['maxThreads'] = MultiProcessor, args.threads
        started = autostart.bootstrap(db, args.services, args.root_key,
                                      factory, **overrides)
        if not started:
            known = ', '.join(autostart.listServices(db, args.root_key))
            raise UsageError(
                f'no service matches {args.services!r}; the database has: '
                f'{known or "no services"}')
        log.info('worker running %s; SIGTERM stops it', ', '.join(started))
        stop.wait()
        log.info('stopping: finishing the jobs in hand (at most %s s)',
                 args.grace)
        unfinished = processing.stopAll(timeout=args.grace)
        if unfinished:
            log.error('%s still busy after %s s; their jobs will be taken '
                      'back when their leases expire',
                      ', '.join(unfinished), args.grace)
            return 1
        return 0
    finally:
        db.close()


def _directives(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError('no directives given')
    return text


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'must be positive, not {text}')
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog='remotetask', description='Run and serve lovely.remotetask '
        'task services.')
    commands = parser.add_subparsers(required=True, metavar='COMMAND')
    run = commands.add_parser(
        'worker', help='run the jobs of services in this process',
        description='Run the processors of the services that the directives '
        'name until SIGTERM or SIGINT.')
    run.set_defaults(command=worker)
    run.add_argument('--db', required=True, metavar='URI',
                     help='the database: file:///path/Data.fs, '
                     'zeo://host:port, postgres://user@host/dbname, ...')
    run.add_argument('--services', required=True, type=_directives,
                     metavar='DIRECTIVES',
                     help='comma-separated site@service, as for autostart: '
                     '@Svc, site1@*, *@*')
    run.add_argument('--tasks', action='append', default=[],
                     metavar='MODULE',
                     help='a module that registers tasks (repeatable)')
    run.add_argument('--grace', type=float, default=GRACE_TIME,
                     metavar='SECONDS',
                     help='how long a stopping worker waits for the jobs '
                     f'in hand (default {GRACE_TIME:g})')
    run.add_argument('--lease', type=_positive, default=LEASE_TIME,
                     metavar='SECONDS',
                     help='how long this worker\'s jobs stay its own after '
                     f'its last heartbeat (default {LEASE_TIME:g})')
    run.add_argument('--wait-time', type=_positive, default=WAIT_TIME,
                     metavar='SECONDS',
                     help='how often an idle worker looks for work '
                     f'(default {WAIT_TIME:g})')
    run.add_argument('--threads', type=int, default=0, metavar='N',
                     help='run up to N jobs at once (MultiProcessor); by '
                     'default each service\'s own processor')
    run.add_argument('--root-key', default=APPLICATION_ROOT_KEY,
                     help='the key of the application root '
                     f'(default {APPLICATION_ROOT_KEY})')
    run.add_argument('--connect-timeout', type=_positive,
                     default=CONNECT_TIMEOUT, metavar='SECONDS',
                     help='how long to wait for a database server')
    return parser
