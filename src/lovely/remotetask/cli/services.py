"""The commands on services: init makes one, pause and resume stop and
let go its workers (or, with a job id, a cron job's runs), and services
and workers list them."""
import time

from lovely.remotetask.cli.common import (
    CommandError, duration, getJob, output, say)
from lovely.remotetask.cli.options import (
    addJobId, addServicePath, command)
from lovely.remotetask.exceptions import quoted
from lovely.remotetask.hosts.folder import getApplicationRoot
from lovely.remotetask.interfaces import ICronJob
from lovely.remotetask.hosts.locate import addService, findService
from lovely.remotetask.serialize import STATUSES, jsonValue
from lovely.remotetask.service import TaskService


def init(target, args):
    root = getApplicationRoot(target.connection, args.root_key,
                              create=True)
    if findService(root, args.service) is not None:
        raise CommandError(f'there is a service at {quoted(args.service)} '
                           f'already; init leaves it as it is')
    try:
        entry = addService(root, args.service, TaskService())
    except ValueError as error:
        raise CommandError(f'{error}; init changed nothing') from None
    target.commit()
    output(args, {'service': entry.path},
           f'created service {entry.path} in {args.db}')


def pause(target, args):
    _pause(target, args, True)


def resume(target, args):
    _pause(target, args, False)


def _pause(target, args, paused: bool) -> None:
    """Pause or resume the service, or with a JOBID a cron job."""
    service, done = target.service, 'paused' if paused else 'resumed'
    if args.jobid is None:
        (service.pause if paused else service.resume)()
        target.commit()
        path = target.entry.path
        output(args, {'service': path, 'paused': paused},
               f'service {path} {done}' + (
                  f': no worker claims its jobs until remotetask resume '
                  f'--service {path}' if paused else ''))
        return
    job = getJob(target, args.jobid)
    if not ICronJob.providedBy(job) or not job.recurring:
        raise CommandError(
            f'job {job.id} is not a cron job: pause JOBID pauses cron jobs; '
            f'pause without a JOBID pauses the whole service')
    service.pauseJob(job.id, paused)
    target.commit()
    output(args, {'id': job.id, 'paused': paused},
           f'cron job {job.id} {done}' + (
              f': its runs are skipped until remotetask resume {job.id}'
              if paused else ''))


def services(target, args):
    """The services of the database, with what waits in them."""
    rows = []
    for entry in target.services(args):
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
    now = time.time()
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


def workers(target, args):
    """The workers of the services, with their heartbeats and jobs."""
    now = time.time()
    rows = []
    for entry in target.services(args):
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
            f'service {target.entry.path}' if target.entry is not None
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


def addParsers(commands) -> None:
    parser = command(commands, 'init', init, 'make a task service at a '
                     'path, and the database if there is none', write=True,
                     create=True, service=False)
    addServicePath(parser)
    for name, function, help in (
            ('services', services, 'list the services (or --service): '
             'jobs by status, queue, oldest waiting job, workers and '
             'whether paused'),
            ('workers', workers, 'list the workers of the services (or of '
             '--service): host, pid, heartbeat and jobs in hand')):
        parser = command(commands, name, function, help, write=False,
                         service=False)
        addServicePath(parser, required=False, help='only this service')
    for name, function, help in (
            ('pause', pause, 'pause the service: no worker claims its jobs '
             'until resumed (the jobs in hand finish); or with a JOBID, '
             'pause a cron job: its runs are skipped'),
            ('resume', resume, 'resume a paused service, or with a JOBID a '
             'paused cron job')):
        addJobId(command(commands, name, function, help, write=True),
                 nargs='?', help='a cron job (without one, the service)')
