"""The commands that say what became of a job: status, result (which may
wait for it, and says in its exit status what became of it) and show
(everything about it, its attempts included).  Each prints for people, or
with ``--json`` what the JSON API would answer."""
import json
import sys
import threading
import time

from lovely.remotetask.cli import values
from lovely.remotetask.cli.common import (
    FAILED, INTERRUPTED, NOT_FINISHED, USAGE, WAS_CANCELLED, CommandError,
    duration, getJob, oneLine, output, say)
from lovely.remotetask.cli.options import addJobId, command
from lovely.remotetask.interfaces import (
    CANCELLED, COMPLETED, CRONJOB, ERROR, FINISHED, RETRY, ICronJob)
from lovely.remotetask.runtime.watch import CommitWatch
from lovely.remotetask.serialize import (
    changesData, formatTime, jobData, jsonValue, zonedTime)

#: Seconds between looks at a job that `result --wait` waits for, unless a
#: ZEO client hears of a commit sooner.
POLL_INTERVAL = 0.5

RESULT_STATUSES = (
    f'Exit status: 0 completed (its result on stdout, as JSON), {FAILED} '
    f'failed (its error on stderr), {USAGE} bad input, {NOT_FINISHED} not '
    f'finished (yet, or within --timeout), {WAS_CANCELLED} cancelled, '
    f'{INTERRUPTED} interrupted (Ctrl-C).')


def status(target, args):
    job = getJob(target, args.jobid)
    output(args, jobData(job, None), job.status)


def result(target, args):
    """Print the result of a completed job; say what became of any other,
    with an exit status of its own."""
    job = getJob(target, args.jobid)
    code = None
    if (args.wait or args.timeout is not None) and \
            job.status not in FINISHED:
        code = _wait(target, job, args.timeout)
    data = dict(id=job.id, status=job.status, result=jsonValue(job.output),
                error=job.error)
    if args.json:
        output(args, data, None)
        return code if code is not None else _resultStatus(job)
    if job.status == COMPLETED:
        print(json.dumps(data['result']))
    elif job.status == ERROR:
        say(f'job {job.id} failed: {job.error}')
    elif job.status == CANCELLED:
        say(f'job {job.id} was cancelled; it has no result')
    elif code is not None:
        pass                 # _wait said why it stopped
    elif job.status == CRONJOB:
        say(f'job {job.id} is a cron job: it runs again and again, and '
            f'has no result of its own (status --json shows its last run)')
    else:
        say(f'job {job.id} is {job.status}: it has no result yet '
            f'(--wait waits for it)')
    return code if code is not None else _resultStatus(job)


def _resultStatus(job) -> int:
    return {COMPLETED: 0, ERROR: FAILED, CANCELLED: WAS_CANCELLED}.get(
        job.status, NOT_FINISHED)


def _wait(target, job, timeout):
    """Wait until `job` finishes: None once it has, else the exit status
    (after saying why)."""
    if job.status == CRONJOB:
        return None          # result() says it never finishes
    if not target.shared:
        raise CommandError(
            f'job {job.id} is {job.status}, and waiting for it needs a '
            f'database that processes share: this one sees no other '
            f'process\'s commits; serve a FileStorage through ZEO '
            f'(remotetask zeo --address 127.0.0.1:8100 --db PATH) and give '
            f'--db zeo://127.0.0.1:8100')
    # Ctrl-C raises KeyboardInterrupt here, as it does by default: a
    # handler that set an Event could wait for ever on the lock the main
    # thread holds inside Event.wait.
    watch = CommitWatch(target.db)
    never = threading.Event()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            watch.mark()
            target.refresh()
            if job.status in FINISHED:
                return None
            _progressLine(target.service, job)
            left = POLL_INTERVAL if deadline is None else \
                min(POLL_INTERVAL, deadline - time.monotonic())
            if left <= 0:
                _progressLine(None, None)
                say(f'job {job.id} is still {job.status} after '
                    f'{timeout:g} s')
                return NOT_FINISHED
            watch.wait(never, left)
    except KeyboardInterrupt:
        _progressLine(None, None)
        say(f'stopped waiting; job {job.id} is still {job.status}')
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


def show(target, args):
    """Everything about a job, its attempts included."""
    job = getJob(target, args.jobid)
    service = target.service
    data = jobData(job, None)
    del data['url']
    data.update(progress=service.getProgress(job.id),
                history=[jsonValue(dict(attempt))
                         for attempt in job.history or ()],
                changes=changesData(job))
    if ICronJob.providedBy(job):
        data['paused'] = job.paused
    if job.runOf is not None:
        data['runOf'] = job.runOf
    if args.json:
        output(args, data, None)
        return
    for label, value in _jobLines(job, data):
        print(f'{label + ":":<14}{value}')
    history = job.history or ()
    if history:
        print(f'\n{"attempt":>7}  {"started (UTC)":<19}  {"took":>8}  '
              f'{"worker":<20}  outcome')
    for attempt in history:
        took = '' if attempt['started'] is None or attempt['ended'] is None \
            else duration(attempt['ended'] - attempt['started'])
        print(f'{attempt["attempt"]:>7}  {formatTime(attempt["started"]):<19}'
              f'  {took:>8}  {attempt["worker"] or "(in a transaction)":<20}'
              f'  {oneLine(attempt["error"]) if attempt["error"] else "ok"}')
    _printChanges(data['changes'])
    last = next((attempt for attempt in reversed(history)
                 if attempt.get('traceback')), None)
    if last is not None:
        print(f'\ntraceback of attempt {last["attempt"]} (--json has every '
              f'attempt\'s):')
        print(last['traceback'].rstrip('\n'))


def _printChanges(changes) -> None:
    """What each attempt's transaction changed: path, class, oid."""
    for entry in changes:
        undone = f' (undone {zonedTime(entry["undone"])})' \
            if entry['undone'] is not None else ''
        print(f'\nchanged by attempt {entry["attempt"]}{undone}:')
        for change in entry['objects']:
            where = (change['path'] or '(no path)') + (
                ' (created)' if change.get('new') else '')
            print(f'  {where:<30}  {change["class"]}  {change["oid"]}')
        if entry['more']:
            print(f'  and {entry["more"]} more')


def _dependencyLines(job, data):
    """What `show` says of a job's queue, deadline, workflow, batch and
    the jobs it waits for."""
    if job.queue != 'default':
        yield 'queue', job.queue
    if job.deadline is not None:
        yield 'deadline', zonedTime(job.deadline)
    if job.workflow is not None:
        name = job.workflow.name
        yield 'workflow', f'{job.workflow.id}' + (f' ({name})' if name
                                                  else '')
    if job.batch is not None:
        yield 'batch', job.batch.id
    if data['waitsForCount']:
        more = data['waitsForCount'] - len(data['waitsFor'])
        yield 'waits for', ' '.join(str(one) for one in data['waitsFor']) \
            + (f' and {more} more' if more else '') \
            + f' (if one fails: {job.onFailure})'


def _jobLines(job, data):
    """(label, text) of what `show` says about a job, in its order."""
    yield 'job', job.id
    yield 'task', job.task
    yield 'status', job.status + (' (paused)' if data.get('paused') else '')
    if job.runOf is not None:
        yield 'run of', f'cron job {job.runOf}'
    yield 'input', oneLine(json.dumps(data['input']))
    if job.status == COMPLETED:
        yield 'result', oneLine(json.dumps(data['result']))
    if job.error is not None:
        yield 'error', oneLine(job.error)
    yield 'priority', job.priority
    yield from _dependencyLines(job, data)
    if job.key is not None:
        yield 'key', job.key
    for label, when in (('created', job.created), ('started', job.started),
                        ('finished', job.completed)):
        if when is not None:
            yield label, zonedTime(when)
    yield 'attempts', job.attempts
    if job.runs > job.attempts:
        yield 'runs', f'{job.runs} (a run whose commit conflicted ran again)'
    if job.worker is not None:
        yield 'worker', job.worker
    if data['progress'] is not None:
        progress = data['progress']
        yield 'progress', f'{progress["fraction"]:.0%} ' \
            f'{oneLine(progress["message"])}'.rstrip()
    if job.status == RETRY and job.scheduledFor is not None:
        yield 'next attempt', zonedTime(job.scheduledFor)
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
                yield label, zonedTime(when, schedule['timezone'])


def addParsers(commands) -> None:
    addJobId(command(commands, 'status', status, 'print a job\'s status',
                     write=False))
    parser = command(commands, 'result', result, 'print a job\'s result; '
                     'the exit status says what became of it', write=False,
                     epilog=RESULT_STATUSES)
    addJobId(parser)
    parser.add_argument('--wait', action='store_true',
                        help='wait until the job is finished, showing its '
                        'progress')
    parser.add_argument('--timeout', metavar='SECONDS',
                        type=values.seconds(0, 365 * values.DAY,
                                            positive=True),
                        help='wait at most this long (implies --wait)')
    addJobId(command(commands, 'show', show, 'print everything about a job, '
                     'its attempts included', write=False))
