"""Commands for scripts and people that change a database named by URI
or path: init; add and cron; start, cancel, retry and run-now; pause and
resume; clean and pack.  What every command shares lives here too: its
session on the database, its exit statuses and its way of saying what
went wrong.  The commands that only read are in `reports`, the parsers
of them all in `parsers`.

Each command is one transaction on its own connection (``clean`` and
``retry --all`` one per batch); ``--json`` prints what the JSON API would
answer, for scripts.  Commands that only read open the database
read-only, and only ``init`` makes a database that is not there.
docs/cli.rst shows them.
"""
import importlib
import json
import logging
import sys

import transaction
import zope.component
from transaction.interfaces import TransientError
from ZEO.ClientStorage import ClientStorage

from lovely.remotetask import arguments
from lovely.remotetask.database import DatabaseError, openDatabase
from lovely.remotetask.defaults import PACK_KEEP_MIN
from lovely.remotetask.exceptions import (
    RemoteTaskError, UnknownTaskError, quoted, shorten)
from lovely.remotetask.folder import getApplicationRoot
from lovely.remotetask.interfaces import (
    CANCELLED, ERROR, FINISHED, QUEUED, ICronJob, ITask)
from lovely.remotetask.locate import (
    addService, applicationRoot, findService, listServices)
from lovely.remotetask.serialize import SCHEDULE_FIELDS, formatTime
from lovely.remotetask.service import TaskService

# Exit statuses, the same for every command.
#: `result`: the job failed; `worker`: jobs still busy after the grace time.
FAILED = 1
#: Bad input, or a database out of reach: one line says which.
USAGE = 2
#: `result`: the job has not finished (or not within --timeout).
NOT_FINISHED = 3
#: `result`: the job was cancelled.
WAS_CANCELLED = 4
#: Interrupted by Ctrl-C (SIGINT), as shells count it.
INTERRUPTED = 130

RESULT_STATUSES = (
    f'Exit status: 0 completed (its result on stdout, as JSON), {FAILED} '
    f'failed (its error on stderr), {USAGE} bad input, {NOT_FINISHED} not '
    f'finished (yet, or within --timeout), {WAS_CANCELLED} cancelled, '
    f'{INTERRUPTED} interrupted (Ctrl-C).')

#: How often a write command is tried when it conflicts with other writers.
ATTEMPTS = 3

#: Seconds between looks at a job that `result --wait` waits for, unless a
#: ZEO client hears of a commit sooner.
POLL_INTERVAL = 0.5

#: The most jobs `clean --batch` removes (and `retry --all --batch`
#: retries) in one transaction.
MAX_BATCH = 100_000

#: The jobs `retry --all` retries in one transaction unless told.
RETRY_BATCH = 100

#: The statuses of jobs that `retry` runs again.
RETRYABLE = (ERROR, CANCELLED)


class CommandError(Exception):
    """One line to print; the command exits 2."""


def importTasks(modules) -> None:
    """Import the modules that register tasks, or say which failed."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:
            raise CommandError(
                f'cannot import tasks module {quoted(module)}: '
                f'{type(error).__name__}: {shorten(str(error), 200)}'
            ) from None


class _Session:
    """The database of a command, opened for what the command does."""

    def __init__(self, args, write: bool, create: bool = False) -> None:
        try:
            self.db = openDatabase(args.db, args.connect_timeout,
                                   create=create, readOnly=not write)
        except DatabaseError as error:
            raise CommandError(str(error)) from None
        self.tm = transaction.TransactionManager()
        self.connection = self.db.open(transaction_manager=self.tm)
        self.service = self.entry = None

    @property
    def shared(self) -> bool:
        """Whether this process hears of other processes' commits."""
        storage = self.db.storage
        return isinstance(storage, ClientStorage) or \
            type(storage).__module__.startswith('relstorage.')

    def findService(self, args) -> None:
        root = applicationRoot(self.connection, args.root_key)
        entry = findService(root, args.service)
        if entry is None:
            known = shorten(', '.join(e.path for e in listServices(root)), 300)
            raise CommandError(
                f'no service {quoted(args.service)}; the database has: ' +
                (known or f'no services (remotetask init --service '
                          f'{shorten(args.service)} makes it)'))
        self.entry, self.service = entry, entry.service

    def services(self, args) -> list:
        """The entries of every service of the database, or of the one
        `args.service` names."""
        if getattr(args, 'service', None) is not None:
            self.findService(args)
            return [self.entry]
        return listServices(applicationRoot(self.connection, args.root_key))

    def commit(self) -> None:
        self.tm.commit()

    def refresh(self) -> None:
        self.tm.begin()

    def close(self) -> None:
        self.tm.abort()
        self.connection.close()
        self.db.close()


def run(command, args, write: bool, create: bool = False,
        service: bool = True, check=None) -> int:
    """Run `command(session, args)`.  Bad input, service errors and a
    database out of reach are one line on stderr and exit status 2; a
    write that conflicts with other writers is tried again."""
    session = None
    _quietLibraries()
    try:
        if check is not None:
            check(args)
        importTasks(args.tasks)
        session = _Session(args, write, create)
        if service:
            session.findService(args)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return command(session, args) or 0
            except TransientError as error:
                session.tm.abort()
                if not write or attempt == ATTEMPTS:
                    raise CommandError(
                        f'{type(error).__name__}: the database was busy '
                        f'or went away ({error}); nothing more was '
                        f'changed, try again') from None
    except (CommandError, RemoteTaskError) as error:
        say(error)
        return USAGE
    finally:
        if session is not None:
            session.close()


def _quietLibraries() -> None:
    """Keep the warnings that storages log (a server out of reach, say)
    off stderr: a command ends with one line that says what went wrong."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def output(args, data, text) -> None:
    print(json.dumps(data, indent=1) if args.json else text)


def _unknownTask(error, args) -> CommandError:
    names = sorted(name for name, _ in
                   zope.component.getUtilitiesFor(ITask))
    given = ' '.join(f'--tasks {module}' for module in args.tasks)
    registered = (f'; {given} registered ' if given else
                  '; registered here: ') + (', '.join(names) or 'none')
    return CommandError(f'no task named {quoted(error.name)} is '
                        f'registered: name the module that registers it '
                        f'with --tasks MODULE{registered}')


def init(session, args):
    root = getApplicationRoot(session.connection, args.root_key,
                              create=True)
    if findService(root, args.service) is not None:
        raise CommandError(f'there is a service at {quoted(args.service)} '
                           f'already; init leaves it as it is')
    try:
        entry = addService(root, args.service, TaskService())
    except ValueError as error:
        raise CommandError(f'{error}; init changed nothing') from None
    session.commit()
    output(args, {'service': entry.path},
           f'created service {entry.path} in {args.db}')


def add(session, args):
    try:
        jobid = session.service.add(
            args.task, args.input, startLater=args.start_later,
            priority=args.priority, key=args.key)
    except UnknownTaskError as error:
        raise _unknownTask(error, args) from None
    session.commit()
    output(args, {'id': jobid}, jobid)


def checkSchedule(args):
    fields = [getattr(args, name) for name in SCHEDULE_FIELDS]
    if args.cron is None and args.delay is None and \
            all(field is None for field in fields):
        raise CommandError(
            "cron needs a schedule: --cron '0 9 * * 1-5', --delay SECONDS, "
            "or fields such as --minute 0 --hour 9 (--minute '*' for every "
            "minute)")


def cron(session, args):
    fields = {name: getattr(args, name) or () for name in SCHEDULE_FIELDS}
    try:
        jobid = session.service.addCronJob(
            args.task, args.input, **fields, delay=args.delay,
            cron=args.cron, timezone=args.timezone, missed=args.missed,
            graceTime=args.grace_time, overlap=args.overlap)
    except UnknownTaskError as error:
        raise _unknownTask(error, args) from None
    session.commit()
    output(args, {'id': jobid}, jobid)


def getJob(session, jobid):
    job = session.service.jobs.get(jobid)
    if job is None:
        raise CommandError(f'no job with id {jobid}')
    return job


def say(line) -> None:
    print(f'remotetask: {" ".join(str(line).split())}', file=sys.stderr)


def start(session, args):
    job = getJob(session, args.jobid)
    if not session.service.startJob(job.id):
        raise CommandError(f'job {job.id} is {job.status}: start starts only '
                           f'jobs added with --start-later')
    session.commit()
    output(args, {'id': job.id, 'status': job.status}, job.status)


def cancel(session, args):
    service = session.service
    service.cancel(getJob(session, args.jobid).id)
    session.commit()
    output(args, {'id': args.jobid, 'status': service.getStatus(args.jobid)},
           service.getStatus(args.jobid))


def retry(session, args):
    """Run a failed or cancelled job again, or (--all) every one."""
    if args.all:
        status = args.status or ERROR
        # Jobs that a worker fails again meanwhile finish after the others
        # and so come after them: retrying no more than there were at the
        # start keeps them from making this go on for ever.
        total = session.service.statusCounts().get(status, 0)
        retried = _inBatches(session, lambda limit: session.service.retryAll(
            status, args.task, limit), args.batch, total, 'retried')
        output(args, {'retried': retried}, retried)
        return
    job = getJob(session, args.jobid)
    session.service.retry(job.id)
    session.commit()
    output(args, {'id': job.id, 'status': job.status}, job.status)


def checkRetry(args):
    if args.all and args.jobid is not None:
        raise CommandError('retry takes a JOBID or --all, not both')
    if not args.all and args.jobid is None:
        raise CommandError('retry needs a JOBID, or --all for every failed '
                           'job (--all --status cancelled for the cancelled '
                           'ones)')
    if not args.all and (args.status or args.task or args.batch):
        raise CommandError('--status, --task and --batch go with --all; '
                           'retry JOBID retries that job')
    if args.batch is None:
        args.batch = RETRY_BATCH


def runNow(session, args):
    job = getJob(session, args.jobid)
    runid = session.service.runNow(job.id)
    session.commit()
    output(args, {'id': runid, 'runOf': job.id, 'status': QUEUED}, runid)


def pause(session, args):
    _pause(session, args, True)


def resume(session, args):
    _pause(session, args, False)


def _pause(session, args, paused: bool) -> None:
    """Pause or resume the service, or with a JOBID a cron job."""
    service, done = session.service, 'paused' if paused else 'resumed'
    if args.jobid is None:
        (service.pause if paused else service.resume)()
        session.commit()
        path = session.entry.path
        output(args, {'service': path, 'paused': paused},
               f'service {path} {done}' + (
                  f': no worker claims its jobs until remotetask resume '
                  f'--service {path}' if paused else ''))
        return
    job = getJob(session, args.jobid)
    if not ICronJob.providedBy(job) or not job.recurring:
        raise CommandError(
            f'job {job.id} is not a cron job: pause JOBID pauses cron jobs; '
            f'pause without a JOBID pauses the whole service')
    service.pauseJob(job.id, paused)
    session.commit()
    output(args, {'id': job.id, 'paused': paused},
           f'cron job {job.id} {done}' + (
              f': its runs are skipped until remotetask resume {job.id}'
              if paused else ''))


def clean(session, args):
    statuses = args.status or list(FINISHED)
    removed = _inBatches(session, lambda limit: session.service.clean(
        statuses, limit=limit), args.batch, None, 'removed')
    output(args, {'removed': removed}, removed)


def _inBatches(session, step, batch: int, total, verb: str) -> int:
    """Call `step(limit)`, which does up to `limit` things and says how
    many, in one transaction after another, until it does fewer than
    asked or `total` are done; return how many were done.  A batch that
    conflicts with other writers is tried again."""
    done = 0
    while total is None or done < total:
        limit = batch if total is None else min(batch, total - done)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                count = step(limit)
                session.commit()
                break
            except TransientError as error:
                session.tm.abort()
                if attempt == ATTEMPTS:
                    raise CommandError(
                        f'{type(error).__name__}: the database was busy or '
                        f'went away ({error}); {done} {verb} before that, '
                        f'try again for the rest') from None
        done += count
        if sys.stderr.isatty():
            sys.stderr.write(f'\r\033[K{verb} {done}')
        if count < limit:
            break
        session.refresh()
    if sys.stderr.isatty():
        sys.stderr.write('\n')
    return done


def pack(session, args):
    """Remove the finished jobs past their retention of the services
    found, then pack the database: one pack at a time (see `packing`)."""
    from lovely.remotetask import packing
    from lovely.remotetask.exceptions import PackBusyError
    if not args.keep_old:
        _dropOldCopy(session.db.storage)
    root = applicationRoot(session.connection, args.root_key)
    # Every service: the pack expires their finished jobs past their
    # retention, and keeps the history their running jobs may need.
    services = [entry.service._p_oid for entry in listServices(root)]
    session.tm.abort()
    keep = PACK_KEEP_MIN if args.days is None else args.days * arguments.DAY
    try:
        result = packing.pack(session.db, keep, services=services)
    except PackBusyError as error:
        say(error)
        return FAILED
    except Exception as error:
        say(f'the pack failed: {type(error).__name__}: {error}')
        return FAILED
    output(args, result.asDict(),
           f'packed in {result.seconds:.1f} s: {_bytes(result.sizeBefore)} '
           f'-> {_bytes(result.sizeAfter)}; history before '
           f'{formatTime(result.packTime)} UTC dropped; {result.expired} '
           f'finished jobs past their retention removed first')


def _dropOldCopy(storage) -> None:
    """Make a FileStorage this command opened remove the copy a pack
    leaves (``Data.fs.old``), which would double the disk it takes."""
    from ZODB.FileStorage import FileStorage
    if not isinstance(storage, FileStorage):
        raise CommandError(
            '--no-keep-old is for a FileStorage the command opens (file:// '
            'or a path); a ZEO server keeps or removes Data.fs.old as its '
            'own configuration says ("pack-keep-old false")')
    storage.pack_keep_old = False


def _bytes(size) -> str:
    if size is None:
        return 'unknown'
    return f'{size / 1e6:.1f} MB' if size >= 1e6 else f'{size / 1e3:.1f} kB'
