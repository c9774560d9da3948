"""The commands on workflows, batches and queues (issues 27 and 28):
``workflow``, ``batch``, ``queues`` and ``queue``.

Each shows what it is about, and changes it with an option (``workflow
ID --cancel``, ``queue NAME --pause``); without one it only reads, and
opens the database as the reading commands do.
"""
import argparse

from lovely.remotetask.cli import values
from lovely.remotetask.cli.common import (
    CommandError, getJob, oneLine, output, run)
from lovely.remotetask.cli.options import addJobId, command
from lovely.remotetask.exceptions import shorten
from lovely.remotetask.interfaces import MAX_JOB_ID, STATUSES


# Workflows

def workflow(target, args):
    """A workflow's steps, their statuses and what each waits for; with
    --cancel or --retry, after that."""
    service = target.service
    job = getJob(target, args.jobid)
    if job.workflow is None:
        raise CommandError(f'job {job.id} is in no workflow')
    data, done = {}, None
    if args.cancel:
        done = data['cancelled'] = service.cancelWorkflow(job.id)
    elif args.retry:
        done = data['retried'] = service.retryWorkflow(job.id)
    if done is not None:
        target.commit()
    shown = service.getWorkflow(job.id)
    if args.json:
        output(args, dict(data, workflow=shown) if data else shown, None)
        return
    if done is not None:
        verb = 'cancelled' if args.cancel else 'retried'
        print(f'{verb} {_steps(len(done))}' + (
            f': {", ".join(str(one) for one in done)}' if done else ''))
    name = f' ({shown["name"]})' if shown['name'] else ''
    print(f'workflow {shown["id"]}{name}: {shown["status"]}, '
          + ', '.join(f'{count} {status}' for status, count in
                      sorted(shown['counts'].items(), key=_statusOrder)))
    rows = [(step['name'], str(step['id']), step['status'], step['task']
             or '', ', '.join(str(one) for one in step['after']),
             shorten(oneLine(step['error']), 60) if step['error'] else '')
            for step in shown['steps']]
    _table(('step', 'id', 'status', 'task', 'waits for', 'error'), rows)


def _statusOrder(item) -> int:
    return STATUSES.index(item[0]) if item[0] in STATUSES else len(STATUSES)


def _steps(count: int) -> str:
    return f'{count} step' if count == 1 else f'{count} steps'


def checkWorkflow(args) -> None:
    if args.cancel and args.retry:
        raise CommandError('workflow takes --cancel or --retry, not both')


# Batches

def batch(target, args):
    """A batch: open or closed, its jobs counted and its callbacks; with
    --close, after closing it."""
    service = target.service
    if args.close:
        service.closeBatch(args.jobid)
        target.commit()
    shown = service.getBatch(args.jobid)
    if args.json:
        output(args, shown, None)
        return
    parent = '' if shown['parent'] is None else \
        f', part of batch {shown["parent"]}'
    print(f'batch {shown["id"]}: {"open" if shown["open"] else "closed"}'
          f'{parent}; {shown["size"]} jobs, {shown["finished"]} finished: '
          f'{shown["completed"]} completed, {shown["failed"]} failed')
    _table(('callback', 'id', 'status'), [
        (kind, str(callback['id']), callback['status'])
        for kind, callback in sorted(shown['callbacks'].items())])


# Queues

def queues(target, args):
    """The queues with their settings and jobs, the limits that hold jobs
    and the jobs no running worker takes."""
    service = target.service
    data = dict(queues=service.getQueues(), limits=service.getLimits(),
                stranded=service.getStranded())
    if args.json:
        output(args, dict(data, limits=[
            dict(limit, scope=list(limit['scope'])) for limit in
            data['limits']]), None)
        return
    _queueTable(data['queues'])
    if data['limits']:
        print()
        _table(('limit', 'at most', 'rate', 'running', 'held'), [
            (':'.join(str(part) for part in limit['scope']),
             '' if limit['maximum'] is None else str(limit['maximum']),
             '' if limit['rate'] is None else
             f'{limit["rate"][0]}/{limit["rate"][1]:g} s',
             str(limit['running']), str(limit['held']))
            for limit in data['limits']])
    for stranded in data['stranded']:
        print(f'{stranded["queued"]} jobs of task {stranded["task"]} in '
              f'queue {stranded["queue"]}: no running worker takes them')


def queue(target, args):
    """A queue; paused, resumed or limited first if told."""
    service = target.service
    changed = args.pause or args.resume or args.limit is not None
    if args.pause:
        service.pauseQueue(args.name)
    elif args.resume:
        service.resumeQueue(args.name)
    if args.limit is not None:
        service.setQueueLimit(args.name, args.limit.value)
    if changed:
        target.commit()
    found = next((one for one in service.getQueues()
                  if one['name'] == args.name),
                 dict(name=args.name, paused=False, limit=None, running=0,
                      queued=0, held=0))
    if args.json:
        output(args, found, None)
        return
    _queueTable([found])


def _queueTable(rows) -> None:
    _table(('queue', 'paused', 'limit', 'queued', 'running', 'held'), [
        (row['name'], 'yes' if row['paused'] else 'no',
         'none' if row['limit'] is None else str(row['limit']),
         str(row['queued']), str(row['running']), str(row['held']))
        for row in rows])


def checkQueue(args) -> None:
    if args.pause and args.resume:
        raise CommandError('queue takes --pause or --resume, not both')


class Limit:
    """The value of ``--limit``: a number of jobs, or none."""

    def __init__(self, value) -> None:
        self.value = value


def limitValue(text: str) -> Limit:
    if text.lower() == 'none':
        return Limit(None)
    try:
        return Limit(values.integer(0, MAX_JOB_ID)(text))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f'must be a whole number from 0 to {MAX_JOB_ID}, or none for '
            f'no limit, not {text!r}') from None


def _table(header, rows) -> None:
    """Columns as wide as their widest cell, the last one unpadded."""
    widths = [max(len(str(cell)) for cell in column)
              for column in zip(header, *rows)]
    for row in (header, *rows):
        print('  '.join(str(cell).ljust(width) for cell, width in
                        zip(row, widths)).rstrip())


def _writing(parser, function, check, *flags) -> None:
    """Open the database for writing only when one of `flags` is given."""
    def start(args):
        return run(function, args, any(
            getattr(args, flag) not in (None, False) for flag in flags),
            check=check)
    parser.set_defaults(command=start)


def addParsers(commands) -> None:
    parser = command(commands, 'workflow', workflow, 'show a workflow: its '
                     'steps, their statuses and what each waits for; or '
                     'cancel or retry it', write=False)
    addJobId(parser, help='the id of any step of the workflow')
    parser.add_argument('--cancel', action='store_true', help='cancel '
                        'every step that has not finished (running ones '
                        'are asked to stop)')
    parser.add_argument('--retry', action='store_true', help='retry the '
                        'failed steps: the steps waiting for them go on')
    _writing(parser, workflow, checkWorkflow, 'cancel', 'retry')

    parser = command(commands, 'batch', batch, 'show a batch: its jobs '
                     'counted and its callbacks; or close it',
                     write=False)
    addJobId(parser, help='the id of the batch (that of its first '
             'callback)')
    parser.add_argument('--close', action='store_true', help='no job '
                        'joins it after; its callbacks run once its jobs '
                        'finished')
    _writing(parser, batch, None, 'close')

    command(commands, 'queues', queues, 'list the queues (paused, limit, '
            'queued, running, held), the limits that hold jobs, and the '
            'jobs no running worker takes', write=False)

    parser = command(commands, 'queue', queue, 'show a queue; or pause, '
                     'resume or limit it', write=False)
    parser.add_argument('name', metavar='NAME',
                        type=values.word('the name of a queue'))
    parser.add_argument('--pause', action='store_true', help='no worker, '
                        'here or elsewhere, starts its jobs until resumed')
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--limit', type=limitValue, metavar='N',
                        help='at most N of its jobs run at once across '
                        'every process ("none": no limit)')
    _writing(parser, queue, checkQueue, 'pause', 'resume', 'limit')
