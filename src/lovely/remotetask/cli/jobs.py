"""The commands on jobs: add, start, cancel and retry (one job, or every
one matching --status and --task in batches), clean and the listing of
jobs."""
import sys

from transaction.interfaces import TransientError

from lovely.remotetask.cli import values
from lovely.remotetask.cli.common import (
    ATTEMPTS, CommandError, getJob, output, unknownTask)
from lovely.remotetask.cli.options import (
    addJobId, command, jobId, taskName)
from lovely.remotetask.exceptions import UnknownTaskError
from lovely.remotetask.interfaces import CANCELLED, ERROR, FINISHED
from lovely.remotetask.store.listing import SCAN as TASK_SCAN
from lovely.remotetask.serialize import STATUSES, formatTime, jobData
from lovely.remotetask.service.taskservice import PRIORITIES

#: The most jobs `clean --batch` removes (and `retry --all --batch`
#: retries) in one transaction.
MAX_BATCH = 100_000

#: The jobs `retry --all` retries in one transaction unless told.
RETRY_BATCH = 100

#: The statuses of jobs that `retry` runs again.
RETRYABLE = (ERROR, CANCELLED)


def add(target, args):
    try:
        jobid = target.service.add(
            args.task, args.input, startLater=args.start_later,
            priority=args.priority, key=args.key, queue=args.queue,
            at=args.at, deadline=args.deadline, after=args.after,
            onFailure=args.on_failure, tags=args.tag)
    except UnknownTaskError as error:
        raise unknownTask(error, args) from None
    target.commit()
    output(args, {'id': jobid}, jobid)


def start(target, args):
    job = getJob(target, args.jobid)
    if not target.service.startJob(job.id):
        raise CommandError(f'job {job.id} is {job.status}: start starts only '
                           f'jobs added with --start-later')
    target.commit()
    output(args, {'id': job.id, 'status': job.status}, job.status)


def cancel(target, args):
    """Cancel a job, or (--all) every one that waits to run once."""
    if args.all:
        from lovely.remotetask.web import actions   # (no Web stack)

        def act(job) -> bool:
            if actions.isSchedule(job):
                return False     # cron jobs keep their schedules
            target.service.cancel(job.id)
            return True
        cancelled = onMatching(target, args, actions.matchingStatuses(
            'cancel', args.status), act, 'cancelled')
        output(args, {'cancelled': cancelled},
               f'{jobCount(cancelled)} cancelled')
        return
    service = target.service
    service.cancel(getJob(target, args.jobid).id)
    target.commit()
    output(args, {'id': args.jobid, 'status': service.getStatus(args.jobid)},
           service.getStatus(args.jobid))


def retry(target, args):
    """Run a failed or cancelled job again, or (--all) every one."""
    if args.all:
        status = args.status or ERROR
        # Jobs that a worker fails again meanwhile finish after the others
        # and so come after them: retrying no more than there were at the
        # start keeps them from making this go on for ever.
        total = target.service.statusCounts().get(status, 0)
        retried = inBatches(target, lambda limit: target.service.retryAll(
            status, args.task, limit), args.batch, total, 'retried')
        output(args, {'retried': retried}, f'{jobCount(retried)} retried')
        return
    job = getJob(target, args.jobid)
    target.service.retry(job.id)
    target.commit()
    output(args, {'id': job.id, 'status': job.status}, job.status)


def checkRetry(args):
    _checkAll(args, 'retry', 'every failed job (--all --status cancelled '
              'for the cancelled ones)')


def checkCancel(args):
    _checkAll(args, 'cancel', 'every job that waits to run once')


_DOES = dict(retry='retries', cancel='cancels')


def _checkAll(args, name: str, every: str) -> None:
    if args.all and args.jobid is not None:
        raise CommandError(f'{name} takes a JOBID or --all, not both')
    if not args.all and args.jobid is None:
        raise CommandError(f'{name} needs a JOBID, or --all for {every}')
    if not args.all and (args.status or args.task or args.batch):
        raise CommandError(f'--status, --task and --batch go with --all; '
                           f'{name} JOBID {_DOES[name]} that job')
    if args.batch is None:
        args.batch = RETRY_BATCH


def onMatching(target, args, statuses, act, verb: str) -> int:
    """Call `act(job)` on every job of `statuses` and of --task, in
    batches, each its own transaction; return how many it did."""
    from lovely.remotetask.web import actions   # (no Web stack)
    done = 0
    for status in statuses:
        walk = actions.Walk(target.service, status, args.batch, args.task)

        def step(limit, walk=walk):
            walk.service, walk.size = target.service, limit
            return walk.batch(act)
        done += inBatches(target, step, args.batch, None, verb,
                          rewind=walk.rewind)
    return done


def clean(target, args):
    statuses = args.status or list(FINISHED)
    if args.task is not None:    # (clean itself takes no task)
        removed = onMatching(target, args, statuses, lambda job: (
            target.service.removeJob(job.id) or True), 'removed')
        output(args, {'removed': removed}, f'{jobCount(removed)} removed')
        return
    removed = inBatches(target, lambda limit: target.service.clean(
        statuses, limit=limit), args.batch, None, 'removed')
    output(args, {'removed': removed}, f'{jobCount(removed)} removed')


def jobCount(count: int) -> str:
    return f'{count} job' if count == 1 else f'{count} jobs'


def inBatches(target, step, batch: int, total, verb: str,
              rewind=lambda: None) -> int:
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
                target.commit()
                break
            except TransientError as error:
                target.tm.abort()
                rewind()
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
        target.refresh()
    if sys.stderr.isatty():
        sys.stderr.write('\n')
    return done


def jobs(target, args):
    page, cursor = target.service.jobsPage(args.status, args.after,
                                           args.limit, args.task,
                                           owner=args.owner, tag=args.tag,
                                           search=args.search)
    if args.json:
        output(args, {'jobs': [jobData(job, None) for job in page],
                      'next': cursor}, None)
        return
    if page:
        print(f'{"id":>10}  {"status":<11} {"task":<20} {"created (UTC)":<19}'
              f'  added by')
    for job in page:
        tags = ''.join(f' #{tag}' for tag in job.tags)
        print(f'{job.id:>10}  {job.status:<11} {job.task:<20} '
              f'{formatTime(job.created):<19}  {job.owner or ""}{tags}'
              .rstrip())
    if cursor is not None:
        print(f'more: --after {cursor}', file=sys.stderr)


def addParsers(commands) -> None:
    parser = command(commands, 'add', add, 'add a job; prints its id',
                     write=True)
    parser.add_argument('task', type=taskName)
    parser.add_argument('input', nargs='?', type=values.jsonInput,
                        help='the input, as JSON (quote a string twice: '
                        '\'"text"\')')
    parser.add_argument('--start-later', action='store_true',
                        help='wait for a start (API or dashboard)')
    parser.add_argument('--priority', default=0, metavar='N',
                        type=values.integer(PRIORITIES.start,
                                            PRIORITIES.stop - 1),
                        help='higher runs first (default 0)')
    parser.add_argument('--key', type=values.word('a key'),
                        help='add nothing while a job with this key waits '
                        'or runs')
    parser.add_argument('--queue', type=values.word('a queue name'),
                        help="the queue it waits in (default: its task's, "
                        "or 'default')")
    parser.add_argument('--at', type=values.moment, metavar='TIME',
                        help='run it at TIME (ISO 8601, UTC unless it says '
                        'its offset; or epoch seconds)')
    parser.add_argument('--deadline', type=values.moment, metavar='TIME',
                        help='cancel it if not started by TIME')
    parser.add_argument('--after', type=jobId, action='append',
                        metavar='ID', help='wait until job ID has finished '
                        '(again for each job to wait for)')
    parser.add_argument('--on-failure', choices=('cancel', 'run'),
                        default='cancel', help='when a job it waits for '
                        'fails: cancel it too (default), or run it anyway')
    parser.add_argument('--tag', type=values.tag, action='append',
                        metavar='TAG', help='a tag to find it by (again '
                        'for each tag; no whitespace or commas)')
    addJobId(command(commands, 'start', start, 'start a job added with '
                     '--start-later', write=True))
    _addCancel(commands)
    _addRetry(commands)
    _addJobs(commands)
    _addClean(commands)


def _addCancel(commands) -> None:
    from lovely.remotetask.web import actions   # (no Web stack)
    parser = command(commands, 'cancel', cancel, 'cancel a job, or every '
                     'one that waits to run once with --all', write=True,
                     check=checkCancel, epilog='Cron jobs keep their '
                     'schedules under --all: cancel them one by one.')
    parser.add_argument('jobid', nargs='?', type=jobId, metavar='JOBID')
    parser.add_argument('--all', action='store_true',
                        help='cancel every job that waits to run once (or '
                        'those of --status and --task), in batches')
    parser.add_argument('--status', type=values.status(
        actions.WAITING, 'status to cancel', 'statuses cancelled'),
        help='with --all: the jobs of this status')
    parser.add_argument('--task', type=taskName,
                        help='with --all: only the jobs of this task')
    parser.add_argument('--batch', metavar='N',
                        type=values.integer(1, MAX_BATCH),
                        help='with --all: jobs cancelled per transaction '
                        f'(default {RETRY_BATCH})')


def _addRetry(commands) -> None:
    parser = command(commands, 'retry', retry, 'run a failed or cancelled '
                     'job again, as a new attempt of the same job, or every '
                     'one with --all', write=True, check=checkRetry,
                     epilog='A retried job keeps its id and history; its '
                     'retry policy counts attempts anew; a cron job goes '
                     'back to its schedule.')
    parser.add_argument('jobid', nargs='?', type=jobId, metavar='JOBID')
    parser.add_argument('--all', action='store_true',
                        help='retry every failed job (or those of --status '
                        'and --task), oldest first, in batches')
    parser.add_argument('--status', type=values.status(
        RETRYABLE, 'status to retry', 'statuses retried'),
        help=f'with --all: the jobs of this status ({" or ".join(RETRYABLE)};'
        f' default {ERROR}; failed, as the dashboard says, is {ERROR})')
    parser.add_argument('--task', type=taskName,
                        help='with --all: only the jobs of this task')
    parser.add_argument('--batch', metavar='N',
                        type=values.integer(1, MAX_BATCH),
                        help='with --all: jobs retried per transaction '
                        f'(default {RETRY_BATCH})')


def _addJobs(commands) -> None:
    # The page sizes are the API's; web.settings loads without the Web stack.
    from lovely.remotetask.web import settings as webSettings
    parser = command(commands, 'jobs', jobs, 'list jobs, a page at a time',
                     write=False)
    parser.add_argument('--status',
                        type=values.status(STATUSES, 'status', 'statuses'),
                        help='only the jobs of this status, in its order '
                        '(without: every job, newest first); failed, as the '
                        f'dashboard says, is {ERROR}')
    parser.add_argument('--after', metavar='CURSOR', type=values.cursor,
                        help='the cursor of a page, as the one before '
                        'printed it')
    parser.add_argument('--task', type=taskName,
                        help='only the jobs of this task (a page reads at '
                        f'most {TASK_SCAN} jobs, so it may come short)')
    parser.add_argument('--owner', metavar='PRINCIPAL',
                        type=values.word('the id of a principal'),
                        help='only the jobs this principal added (as '
                        '--task, a page may come short)')
    parser.add_argument('--tag', type=values.tag,
                        help='only the jobs added with this tag')
    parser.add_argument('--search', metavar='WORDS',
                        type=values.searchWords,
                        help='only the jobs with a word beginning with '
                        'each of WORDS in their input, result or error')
    parser.add_argument('--limit', default=webSettings.PAGE_SIZE,
                        metavar='N', type=values.integer(
                            1, webSettings.MAX_PAGE_SIZE),
                        help='jobs on a page (default '
                        f'{webSettings.PAGE_SIZE}, as the API)')


def _addClean(commands) -> None:
    parser = command(commands, 'clean', clean, 'remove finished jobs, in '
                     'batches', write=True)
    parser.add_argument('--status', action='append',
                        type=values.status(FINISHED, 'finished status',
                                           'finished statuses'),
                        help='remove only jobs of this status (repeatable; '
                        f'failed, as the dashboard says, is {ERROR})')
    parser.add_argument('--task', type=taskName,
                        help='remove only jobs of this task')
    parser.add_argument('--batch', default=1000, metavar='N',
                        type=values.integer(1, MAX_BATCH),
                        help='jobs removed per transaction (default 1000)')
