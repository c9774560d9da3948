"""The commands that run processes of their own: worker runs the jobs of
services, zeo a ZEO server that merges this package's concurrent changes.

A worker process imports the modules that register the tasks, opens the
database and runs the processors of the services its directives name, until
SIGTERM or SIGINT; then it stops claiming, finishes the jobs in hand within
a grace period, records them and exits.
"""
import argparse
import faulthandler
import logging
import os
import signal
import sys
import time

from lovely.remotetask.hosts import autostart, zeoserver
from lovely.remotetask.runtime import processing
from lovely.remotetask.cli import values
from lovely.remotetask.cli.common import (
    FAILED, INTERRUPTED, CommandError, importTasks)
from lovely.remotetask.cli.options import (
    addCommon, addDatabase, positive)
from lovely.remotetask.hosts.database import DatabaseError, openDatabase
from lovely.remotetask.defaults import GRACE_TIME, LEASE_TIME, WAIT_TIME
from lovely.remotetask.exceptions import InvalidArgumentError, quoted
from lovely.remotetask.runtime.processor import MultiProcessor
from lovely.remotetask.task import checkQueue

#: The most jobs `worker --threads` runs at once: each holds a thread and a
#: database connection.
MAX_THREADS = 256

log = logging.getLogger('lovely.remotetask')

#: The worker's exit status when tasks that ignore their time limits pile
#: up: its supervisor should start a fresh worker, which ends them.
RECYCLE = 3
#: Seconds a processor may stay blocked by such tasks before the worker
#: exits.
RECYCLE_AFTER = 5.0


def worker(args) -> int:
    importTasks(args.tasks)
    try:
        db = openDatabase(args.db, args.connect_timeout, create=False)
    except DatabaseError as error:
        raise CommandError(str(error)) from None
    # Logging starts once the input was found good: bad input is one line.
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    signals = StopSignals()
    signals.install()
    # `kill -USR1 PID` writes where every thread is to stderr: a worker
    # that seems stuck says where, and goes on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        _startProcessing(db, args)
        status = 0
        while not signals.received:
            time.sleep(0.1)   # a signal cuts it short
            if processing.blocked() > RECYCLE_AFTER:
                log.critical('tasks that ignored their time limits keep '
                             'running: the worker exits (status %s) for a '
                             'fresh one to start', RECYCLE)
                status = RECYCLE
                break
        return stopProcessing(args.grace, signals, status)
    finally:
        db.close()


class StopSignals:
    """SIGTERM and SIGINT (Ctrl-C): the first asks the process to stop;
    a Ctrl-C after it ends the process at once.

    The first is only noted: a handler that took a lock (as Event.set
    does) could wait for ever on a lock the main thread held when the
    signal came.  The Ctrl-C after it writes one line, straight to the
    file, and ends the process without unwinding: the jobs in hand are
    left to their leases, and another worker takes them back when the
    leases expire.  A SIGTERM after the first signal changes nothing: a
    supervisor that repeats it should not cut the grace time short (it
    has SIGKILL for that).
    """

    def __init__(self) -> None:
        self.received = []

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame) -> None:
        if not self.received or signum != signal.SIGINT:
            self.received.append(signum)
            return
        os.write(sys.stderr.fileno(), b'remotetask: stopped at once on a '
                 b'second Ctrl-C; the jobs in hand are left to their '
                 b'leases\n')
        os._exit(INTERRUPTED)


def _startProcessing(db, args) -> None:
    """Start the processors of the services that `args.services` names."""
    overrides = dict(leaseTime=args.lease, waitTime=args.wait_time)
    factory = None
    if args.threads is not None:
        factory, overrides['maxThreads'] = MultiProcessor, args.threads
    if args.queue:
        overrides['queues'] = dict(args.queue)
    started = autostart.bootstrap(db, args.services, args.root_key,
                                  factory, **overrides)
    if not started:
        known = ', '.join(autostart.listServices(db, args.root_key))
        raise CommandError(
            f'no service matches {quoted(args.services)}; the database '
            f'has: {known or "no services"}')
    if args.metrics_port is not None:
        from lovely.remotetask import metrics
        metrics.serve(db, args.metrics_port, rootKey=args.root_key,
                      services=f'*@*,{args.services}')
    for oid in processing.serviceOids(db)[:1]:
        zeoserver.checkResolution(db, oid)
    log.info('worker running %s; SIGTERM or Ctrl-C stops it',
             ', '.join(started))


def stopProcessing(grace: float, signals: StopSignals,
                   status: int = 0) -> int:
    """Stop the processors of this process, giving the jobs in hand
    `grace` seconds, and return `status`; or, when some are still busy,
    give their jobs back and end the process at once, with `status` or
    else 1.

    Python cannot stop a thread that runs a task: closing the database
    under it would make it fail with tracebacks of a closed connection.
    A second signal while waiting ends the process at once.
    """
    signals.received.append('stopping')     # the next one is the second
    log.info('stopping: finishing the jobs in hand (at most %g s; Ctrl-C '
             'stops at once)', grace)
    unfinished = processing.shutdown(timeout=grace)
    if not unfinished:
        return status
    log.error('%s still busy after %g s; their jobs were given back',
              ', '.join(unfinished), grace)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status or FAILED)


def zeoServer(args) -> int:
    zeoserver.serve(args.address, args.db)   # runzeo sets up its logging
    return 0


def _directives(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError('no directives given')
    return text


def _queue(text: str):
    """NAME or NAME:N of ``--queue``: (name, local limit or None)."""
    name, _, limit = text.partition(':')
    try:
        checkQueue(name)
    except InvalidArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not limit:
        return name, None
    return name, values.integer(1, MAX_THREADS, 'a local limit')(limit)


def addParsers(commands) -> None:
    run = commands.add_parser(
        'worker', help='run the jobs of services in this process',
        description='Run the processors of the services that the directives '
        'name until SIGTERM or SIGINT.')
    run.set_defaults(command=worker)
    addCommon(run)
    addDatabase(run)
    run.add_argument('--services', required=True, type=_directives,
                     metavar='DIRECTIVES',
                     help='comma-separated service paths (site1.Svc) or '
                     'site@service directives, as for autostart: @Svc, '
                     'site1@*, *@*')
    run.add_argument('--grace', type=values.seconds(), default=GRACE_TIME,
                     metavar='SECONDS',
                     help='how long a stopping worker waits for the jobs '
                     f'in hand (default {GRACE_TIME:g})')
    run.add_argument('--lease', type=positive, default=LEASE_TIME,
                     metavar='SECONDS',
                     help='how long this worker\'s jobs stay its own after '
                     f'its last heartbeat (default {LEASE_TIME:g})')
    run.add_argument('--wait-time', type=positive, default=WAIT_TIME,
                     metavar='SECONDS',
                     help='how often an idle worker looks for cron jobs '
                     'that came due, and over RelStorage for new jobs; '
                     'over ZEO it hears of them at once '
                     f'(default {WAIT_TIME:g})')
    run.add_argument('--threads', type=values.integer(1, MAX_THREADS),
                     metavar='N',
                     help='run up to N jobs at once (MultiProcessor); by '
                     'default each service\'s own processor')
    run.add_argument('--queue', action='append', type=_queue,
                     metavar='NAME[:N]',
                     help='serve queue NAME, running at most N of its jobs '
                     'at once here if given; repeat for more queues (by '
                     'default every queue, without a local limit)')
    run.add_argument('--metrics-port', type=values.integer(1, 65535),
                     metavar='PORT',
                     help='serve Prometheus metrics on 127.0.0.1:PORT '
                     '(needs prometheus_client)')
    zeo = commands.add_parser(
        'zeo', help='run a ZEO server that resolves this package\'s '
        'conflicts',
        description='Run a ZEO server in this environment, where '
        'lovely.remotetask is importable: over ZEO, concurrent changes are '
        'merged by the server, which needs the classes that merge them.')
    zeo.set_defaults(command=zeoServer)
    zeo.add_argument('--address', required=True, metavar='[HOST:]PORT',
                     type=values.word('an address'),
                     help='where to listen, e.g. 127.0.0.1:8100')
    zeo.add_argument('--db', required=True, metavar='PATH',
                     type=values.word('a file path', anyBytes=True),
                     help='the FileStorage file it serves')
