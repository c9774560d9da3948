"""Commands for scripts and people, on the services of a database named
by URI or path: init; add and cron; status, result and show; start,
cancel, retry and run-now; pause and resume; jobs, services and workers;
clean.

Each command is one transaction on its own connection (``clean`` and
``retry --all`` one per batch); ``--json`` prints what the JSON API would
answer, for scripts.  Commands that only read open the database
read-only, and only ``init`` makes a database that is not there.
docs/cli.rst shows them.
"""
import argparse
import importlib
import json
import logging
import re
import sys
import threading
import time

import transaction
import zope.component
from transaction.interfaces import TransientError
from ZEO.ClientStorage import ClientStorage

from lovely.remotetask import arguments
from lovely.remotetask.arguments import shorten
from lovely.remotetask.database import DatabaseError, openDatabase
from lovely.remotetask.exceptions import RemoteTaskError, UnknownTaskError
from lovely.remotetask.folder import getApplicationRoot
from lovely.remotetask.interfaces import (
    CANCELLED, COMPLETED, CRONJOB, ERROR, FINISHED, QUEUED, RETRY, ICronJob,
    ITask)
from lovely.remotetask.listing import TASK_SCAN
from lovely.remotetask.locate import (
    addService, applicationRoot, findService, listServices)
from lovely.remotetask.schedule import MISSED_POLICIES
from lovely.remotetask.serialize import (
    SCHEDULE_FIELDS, STATUSES, formatTime, jobData, jsonValue)
from lovely.remotetask.service import MAX_JOB_ID, PRIORITIES, TaskService
from lovely.remotetask.watch import CommitWatch

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
                f'cannot import tasks module {shorten(module)!r}: '
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
                f'no service {shorten(args.service)!r}; the database has: ' +
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
        _say(error)
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


def _show(args, data, text) -> None:
    print(json.dumps(data, indent=1) if args.json else text)


def _unknownTask(error, args) -> CommandError:
    names = sorted(name for name, _ in
                   zope.component.getUtilitiesFor(ITask))
    given = ' '.join(f'--tasks {module}' for module in args.tasks)
    registered = (f'; {given} registered ' if given else
                  '; registered here: ') + (', '.join(names) or 'none')
    return CommandError(f'no task named {shorten(error.name)!r} is '
                        f'registered: name the module that registers it '
                        f'with --tasks MODULE{registered}')


def init(session, args):
    root = getApplicationRoot(session.connection, args.root_key,
                              create=True)
    if findService(root, args.service) is not None:
        raise CommandError(f'there is a service at {shorten(args.service)!r} '
                           f'already; init leaves it as it is')
    try:
        entry = addService(root, args.service, TaskService())
    except ValueError as error:
        raise CommandError(f'{error}; init changed nothing') from None
    session.commit()
    _show(args, {'service': entry.path},
          f'created service {entry.path} in {args.db}')


def add(session, args):
    try:
        jobid = session.service.add(
            args.task, args.input, startLater=args.start_later,
            priority=args.priority, key=args.key)
    except UnknownTaskError as error:
        raise _unknownTask(error, args) from None
    session.commit()
    _show(args, {'id': jobid}, jobid)


def _checkSchedule(args):
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
    _show(args, {'id': jobid}, jobid)


def _job(session, jobid):
    job = session.service.jobs.get(jobid)
    if job is None:
        raise CommandError(f'no job with id {jobid}')
    return job


def status(session, args):
    job = _job(session, args.jobid)
    _show(args, jobData(job, None), job.status)


def result(session, args):
    """Print the result of a completed job; say what became of any other,
    with an exit status of its own."""
    job = _job(session, args.jobid)
    code = None
    if (args.wait or args.timeout is not None) and \
            job.status not in FINISHED:
        code = _wait(session, job, args.timeout)
    data = dict(id=job.id, status=job.status, result=jsonValue(job.output),
                error=job.error)
    if args.json:
        _show(args, data, None)
        return code if code is not None else _resultStatus(job)
    if job.status == COMPLETED:
        print(json.dumps(data['result']))
    elif job.status == ERROR:
        _say(f'job {job.id} failed: {job.error}')
    elif job.status == CANCELLED:
        _say(f'job {job.id} was cancelled; it has no result')
    elif code is not None:
        pass                 # _wait said why it stopped
    elif job.status == CRONJOB:
        _say(f'job {job.id} is a cron job: it runs again and again, and '
             f'has no result of its own (status --json shows its last run)')
    else:
        _say(f'job {job.id} is {job.status}: it has no result yet '
             f'(--wait waits for it)')
    return code if code is not None else _resultStatus(job)


def _resultStatus(job) -> int:
    return {COMPLETED: 0, ERROR: FAILED, CANCELLED: WAS_CANCELLED}.get(
        job.status, NOT_FINISHED)


def _say(line) -> None:
    print(f'remotetask: {" ".join(str(line).split())}', file=sys.stderr)


def _wait(session, job, timeout):
    """Wait until `job` finishes: None once it has, else the exit status
    (after saying why)."""
    if job.status == CRONJOB:
        return None          # result() says it never finishes
    if not session.shared:
        raise CommandError(
            f'job {job.id} is {job.status}, and waiting for it needs a '
            f'database that processes share: this one sees no other '
            f'process\'s commits; serve a FileStorage through ZEO '
            f'(remotetask zeo --address 127.0.0.1:8100 --db PATH) and give '
            f'--db zeo://127.0.0.1:8100')
    # Ctrl-C raises KeyboardInterrupt here, as it does by default: a
    # handler that set an Event could wait for ever on the lock the main
    # thread holds inside Event.wait.
    watch = CommitWatch(session.db)
    never = threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            watch.mark()
            session.refresh()
            if job.status in FINISHED:
                return None
            _progressLine(session.service, job)
            left = POLL_INTERVAL if deadline is None else \
                min(POLL_INTERVAL, deadline - time.monotonic())
            if left <= 0:
                _progressLine(None, None)
                _say(f'job {job.id} is still {job.status} after '
                     f'{timeout:g} s')
                return NOT_FINISHED
            watch.wait(never, left)
    except KeyboardInterrupt:
        _progressLine(None, None)
        _say(f'stopped waiting; job {job.id} is still {job.status}')
        return INTERRUPTED
    finally:
        _progressLine(None, None)


def _progressLine(service, job) -> None:
    """What a waiting job does, on one line of stderr that keeps changing."""
    if not sys.stderr.isatty():
        return
    if service is None:
        sys.stderr.write('\r\033[K')
        sys.stderr.flush()
        return
    progress = service.getProgress(job.id)
    text = f'job {job.id} is {job.status}'
    if progress is not None:
        text += f' {progress["fraction"]:.0%} {progress["message"]}'
    sys.stderr.write(f'\r\033[K{text}')
    sys.stderr.flush()


def start(session, args):
    job = _job(session, args.jobid)
    if not session.service.startJob(job.id):
        raise CommandError(f'job {job.id} is {job.status}: start starts only '
                           f'jobs added with --start-later')
    session.commit()
    _show(args, {'id': job.id, 'status': job.status}, job.status)


def cancel(session, args):
    service = session.service
    service.cancel(_job(session, args.jobid).id)
    session.commit()
    _show(args, {'id': args.jobid, 'status': service.getStatus(args.jobid)},
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
        _show(args, {'retried': retried}, retried)
        return
    job = _job(session, args.jobid)
    session.service.retry(job.id)
    session.commit()
    _show(args, {'id': job.id, 'status': job.status}, job.status)


def _checkRetry(args):
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
    job = _job(session, args.jobid)
    runid = session.service.runNow(job.id)
    session.commit()
    _show(args, {'id': runid, 'runOf': job.id, 'status': QUEUED}, runid)


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
        _show(args, {'service': path, 'paused': paused},
              f'service {path} {done}' + (
                  f': no worker claims its jobs until remotetask resume '
                  f'--service {path}' if paused else ''))
        return
    job = _job(session, args.jobid)
    if not ICronJob.providedBy(job) or not job.recurring:
        raise CommandError(
            f'job {job.id} is not a cron job: pause JOBID pauses cron jobs; '
            f'pause without a JOBID pauses the whole service')
    service.pauseJob(job.id, paused)
    session.commit()
    _show(args, {'id': job.id, 'paused': paused},
          f'cron job {job.id} {done}' + (
              f': its runs are skipped until remotetask resume {job.id}'
              if paused else ''))


def show(session, args):
    """Everything about a job, its attempts included."""
    job = _job(session, args.jobid)
    service = session.service
    data = jobData(job, None)
    del data['url']
    data.update(progress=service.getProgress(job.id),
                history=[jsonValue(dict(attempt))
                         for attempt in job.history or ()])
    if ICronJob.providedBy(job):
        data['paused'] = job.paused
    if job.runOf is not None:
        data['runOf'] = job.runOf
    if args.json:
        _show(args, data, None)
        return
    for label, value in _jobLines(job, data):
        print(f'{label + ":":<14}{value}')
    history = job.history or ()
    if history:
        print(f'\n{"attempt":>7}  {"started (UTC)":<19}  {"took":>8}  '
              f'{"worker":<20}  outcome')
    for attempt in history:
        took = '' if attempt['started'] is None or attempt['ended'] is None \
            else _duration(attempt['ended'] - attempt['started'])
        print(f'{attempt["attempt"]:>7}  {formatTime(attempt["started"]):<19}'
              f'  {took:>8}  {attempt["worker"] or "(in a transaction)":<20}'
              f'  {_oneLine(attempt["error"]) if attempt["error"] else "ok"}')
    last = next((attempt for attempt in reversed(history)
                 if attempt.get('traceback')), None)
    if last is not None:
        print(f'\ntraceback of attempt {last["attempt"]} (--json has every '
              f'attempt\'s):')
        print(last['traceback'].rstrip('\n'))


def _jobLines(job, data):
    """(label, text) of what `show` says about a job, in its order."""
    yield 'job', job.id
    yield 'task', job.task
    yield 'status', job.status + (' (paused)' if data.get('paused') else '')
    if job.runOf is not None:
        yield 'run of', f'cron job {job.runOf}'
    yield 'input', _oneLine(json.dumps(data['input']))
    if job.status == COMPLETED:
        yield 'result', _oneLine(json.dumps(data['result']))
    if job.error is not None:
        yield 'error', _oneLine(job.error)
    yield 'priority', job.priority
    if job.key is not None:
        yield 'key', job.key
    for label, when in (('created', job.created), ('started', job.started),
                        ('finished', job.completed)):
        if when is not None:
            yield label, formatTime(when) + ' UTC'
    yield 'attempts', job.attempts
    if job.worker is not None:
        yield 'worker', job.worker
    if data['progress'] is not None:
        progress = data['progress']
        yield 'progress', f'{progress["fraction"]:.0%} ' \
            f'{_oneLine(progress["message"])}'.rstrip()
    if job.status == RETRY and job.scheduledFor is not None:
        yield 'next attempt', formatTime(job.scheduledFor) + ' UTC'
    if 'schedule' in data:
        schedule = data['schedule']
        yield 'schedule', schedule['text']
        if schedule['asCron'] is not None:
            yield 'as cron', schedule['asCron'] + ' (UTC)'
        policy = f'missed runs: {schedule["missed"]}'
        if schedule['graceTime'] is not None:
            policy += f', within {schedule["graceTime"]:g} s'
        if schedule['overlap']:
            policy += '; runs may overlap'
        yield 'policy', policy
        for label, when in (('next run', schedule['nextRun']),
                            ('last run', schedule['lastRun'])):
            if when is not None:
                yield label, formatTime(when) + ' UTC'


def _oneLine(text) -> str:
    """`text` on one line: a listing stays a listing."""
    return ' '.join(str(text).split())


def _duration(seconds: float) -> str:
    """A span of time for people: 3 ms, 2.5 s, 12 s, 5 min 3 s, 2 h 5 min,
    3 d 4 h."""
    if seconds < 1:
        return f'{max(seconds, 0) * 1000:.0f} ms'
    if seconds < 10:
        return f'{seconds:.1f} s'
    seconds = int(seconds)
    for unit, size, smaller, smallerSize in (
            ('d', 86400, 'h', 3600), ('h', 3600, 'min', 60),
            ('min', 60, 's', 1)):
        if seconds >= size:
            rest = (seconds % size) // smallerSize
            return f'{seconds // size} {unit}' + (
                f' {rest} {smaller}' if rest else '')
    return f'{seconds} s'


def services(session, args):
    """The services of the database, with what waits in them."""
    rows = []
    now = time.time()
    for entry in session.services(args):
        service = entry.service
        rows.append(dict(
            id=entry.path, name=entry.name, site=entry.site,
            paused=service.isPaused(), counts=service.statusCounts(),
            queued=service.queueLength(),
            oldestWaiting=service.oldestWaiting(),
            workers=len(service.getWorkers())))
    if args.json:
        _show(args, {'services': rows}, None)
        return
    if not rows:
        _say(f'the database has no services (remotetask init --db '
             f'{args.db} --service NAME makes one)')
        return
    width = max(len('service'), *(len(row['id']) for row in rows))
    print(f'{"service":<{width}}  {"paused":<6}  {"queued":>6}  '
          f'{"waits for":>11}  {"workers":>7}  jobs')
    for row in rows:
        waits = '' if row['oldestWaiting'] is None else \
            _duration(now - row['oldestWaiting'])
        counts = ', '.join(f'{count} {status}' for status, count in
                           sorted(row['counts'].items(),
                                  key=lambda item: STATUSES.index(item[0])))
        print(f'{row["id"]:<{width}}  {"yes" if row["paused"] else "no":<6}'
              f'  {row["queued"]:>6}  {waits:>11}  {row["workers"]:>7}  '
              f'{counts or "none"}')


def workers(session, args):
    """The workers of the services, with their heartbeats and jobs."""
    now = time.time()
    rows = []
    for entry in session.services(args):
        for worker in entry.service.getWorkers():
            age = now - worker['lastSeen']
            rows.append(dict(jsonValue(worker), service=entry.path,
                             heartbeatAge=age,
                             expired=age > worker['leaseTime']))
    if args.json:
        _show(args, {'workers': rows}, None)
        return
    if not rows:
        _say('no worker has registered with ' + (
            f'service {session.entry.path}' if session.entry is not None
            else 'any service') + ' (remotetask worker runs one)')
        return
    width = max(len('service'), *(len(row['service']) for row in rows))
    hostWidth = max(len('host'), *(len(row['host']) for row in rows))
    print(f'{"service":<{width}}  {"host":<{hostWidth}}  {"pid":>7}  '
          f'{"heartbeat":>10}  {"lease":<7}  jobs in hand')
    for row in rows:
        jobs = ', '.join(sorted(row['jobs'], key=int))
        lease = 'expired' if row['expired'] else 'held'
        print(f'{row["service"]:<{width}}  {row["host"]:<{hostWidth}}  '
              f'{row["pid"]:>7}  {_duration(row["heartbeatAge"]) + " ago":>10}'
              f'  {lease:<7}  {jobs or "none"}')


def jobs(session, args):
    page, cursor = session.service.jobsPage(args.status, args.after,
                                            args.limit, args.task)
    if args.json:
        _show(args, {'jobs': [jobData(job, None) for job in page],
                     'next': cursor}, None)
        return
    if page:
        print(f'{"id":>10}  {"status":<11} {"task":<20} created (UTC)')
    for job in page:
        print(f'{job.id:>10}  {job.status:<11} {job.task:<20} '
              f'{formatTime(job.created)}')
    if cursor is not None:
        print(f'more: --after {cursor}', file=sys.stderr)


def clean(session, args):
    statuses = args.status or list(FINISHED)
    removed = _inBatches(session, lambda limit: session.service.clean(
        statuses, limit=limit), args.batch, None, 'removed')
    _show(args, {'removed': removed}, removed)


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
    root = applicationRoot(session.connection, args.root_key)
    services = [entry.service._p_oid for entry in listServices(root)
                if entry.service.keepFinished is not None]
    session.tm.abort()
    try:
        result = packing.pack(session.db, args.days * arguments.DAY,
                              services=services)
    except PackBusyError as error:
        _say(error)
        return FAILED
    except Exception as error:
        _say(f'the pack failed: {type(error).__name__}: {error}')
        return FAILED
    _show(args, result.asDict(),
          f'packed in {result.seconds:.1f} s: {_bytes(result.sizeBefore)} '
          f'-> {_bytes(result.sizeAfter)}; history before '
          f'{formatTime(result.packTime)} UTC dropped; {result.expired} '
          f'finished jobs past their retention removed first')


def _bytes(size) -> str:
    if size is None:
        return 'unknown'
    return f'{size / 1e6:.1f} MB' if size >= 1e6 else f'{size / 1e3:.1f} kB'


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
    database.add_argument('--db', required=True, metavar='URI',
                          type=arguments.word('a database URI or path',
                                              anyBytes=True),
                          help='the database: a FileStorage file\'s path, '
                          'file:///path/Data.fs, zeo://host:port, '
                          'postgres://user@host/dbname, ...')
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
                     'id', write=True, check=_checkSchedule)
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
                     '--all', write=True, check=_checkRetry,
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
                                              'statuses'))
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
    parser.add_argument('--db', required=True, metavar='URI',
                        type=arguments.word('a database URI or path',
                                            anyBytes=True),
                        help='the database: a FileStorage file\'s path, '
                        'zeo://host:port, postgres://user@host/dbname, ...')
    parser.add_argument('--days', default=0.0, metavar='N',
                        type=arguments.days(),
                        help='keep the history of the last N days (default '
                        '0: only what is current)')
    parser.add_argument('--json', action='store_true',
                        help='print what the pack did as JSON')
