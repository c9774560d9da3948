"""The commands that only read: status, result (which may wait), show;
services, workers and jobs.  Each prints for people, or with ``--json``
what the JSON API would answer."""
import json
import sys
import threading
import time

from lovely.remotetask.commands import (
    FAILED, INTERRUPTED, NOT_FINISHED, POLL_INTERVAL, WAS_CANCELLED,
    CommandError, getJob, output, say)
from lovely.remotetask.interfaces import (
    CANCELLED, COMPLETED, CRONJOB, ERROR, FINISHED, RETRY, ICronJob)
from lovely.remotetask.serialize import (
    STATUSES, formatTime, jobData, jsonValue)
from lovely.remotetask.watch import CommitWatch


def status(session, args):
    job = getJob(session, args.jobid)
    output(args, jobData(job, None), job.status)


def result(session, args):
    """Print the result of a completed job; say what became of any other,
    with an exit status of its own."""
    job = getJob(session, args.jobid)
    code = None
    if (args.wait or args.timeout is not None) and \
            job.status not in FINISHED:
        code = _wait(session, job, args.timeout)
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


def show(session, args):
    """Everything about a job, its attempts included."""
    job = getJob(session, args.jobid)
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
    yield 'input', oneLine(json.dumps(data['input']))
    if job.status == COMPLETED:
        yield 'result', oneLine(json.dumps(data['result']))
    if job.error is not None:
        yield 'error', oneLine(job.error)
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
            f'{oneLine(progress["message"])}'.rstrip()
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


def oneLine(text) -> str:
    """`text` on one line: a listing stays a listing."""
    return ' '.join(str(text).split())


def duration(seconds: float) -> str:
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
        output(args, {'services': rows}, None)
        return
    if not rows:
        say(f'the database has no services (remotetask init --db '
            f'{args.db} --service NAME makes one)')
        return
    width = max(len('service'), *(len(row['id']) for row in rows))
    print(f'{"service":<{width}}  {"paused":<6}  {"queued":>6}  '
          f'{"waits for":>11}  {"workers":>7}  jobs')
    for row in rows:
        waits = '' if row['oldestWaiting'] is None else \
            duration(now - row['oldestWaiting'])
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
        output(args, {'workers': rows}, None)
        return
    if not rows:
        say('no worker has registered with ' + (
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
              f'{row["pid"]:>7}  {duration(row["heartbeatAge"]) + " ago":>10}'
              f'  {lease:<7}  {jobs or "none"}')


def jobs(session, args):
    page, cursor = session.service.jobsPage(args.status, args.after,
                                            args.limit, args.task,
                                            owner=args.owner)
    if args.json:
        output(args, {'jobs': [jobData(job, None) for job in page],
                      'next': cursor}, None)
        return
    if page:
        print(f'{"id":>10}  {"status":<11} {"task":<20} {"created (UTC)":<19}'
              f'  added by')
    for job in page:
        print(f'{job.id:>10}  {job.status:<11} {job.task:<20} '
              f'{formatTime(job.created):<19}  {job.owner or ""}'.rstrip())
    if cursor is not None:
        print(f'more: --after {cursor}', file=sys.stderr)
