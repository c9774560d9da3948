"""Services stored by the development versions before lanes, and their
migration.

Those versions kept one queue per priority, shared by every writer, and
indexes beside the jobs.  Their queue classes stay in `queue`, where they
were stored, so that such a service still loads; `migrate` moves it, in
the current transaction, to the stored structures of this version,
keeping every job, its id, its status and its place in the queue.
Workers and ``remotetask serve`` migrate the services they start;
``remotetask migrate`` migrates all of a database's.
"""
import logging

from lovely.remotetask.interfaces import (
    CRONJOB, DELAYED, FINISHED, PROCESSING, QUEUED, RETRY, STARTLATER)

log = logging.getLogger('lovely.remotetask')

#: The attributes of a service of the old layout that this one has not.
OLD_ATTRIBUTES = (
    '_queue', '_scheduled', '_unscheduled', '_finished', '_queues',
    '_progress', '_stopRequests', '_startLater', 'keepFinished',
    '_legacyLayout')


def markLegacy(state: dict) -> dict:
    """A service's state stored before versions were kept: the old layout,
    which `migrate` moves."""
    return dict(state, _legacyLayout=True)


def migrate(service) -> int:
    """Move a service of the old layout to this version's structures, in
    the current transaction; return how many jobs moved (0 for a service
    that needs no migration)."""
    if not service._legacyLayout:
        return 0
    from lovely.remotetask import placement
    from lovely.remotetask.lanes import currentStamp, firstStamp, ownLane
    old = {name: service.__dict__.get(name) for name in
           OLD_ATTRIBUTES + ('_workers',)}
    oldJobs = service.__dict__['jobs']
    jobs = sorted(oldJobs.values(), key=lambda job: (job.created, job.id))
    service._makeStructures()
    service._settings.keepFinished = old['keepFinished']
    for workerId, record in (old['_workers'] or {}).items():
        service._workers[workerId] = record
    lane = ownLane(service)
    for job in jobs:
        service.jobs.adopt(job, lane)
    # Stamps before any this lane makes, in the old queue's order.
    stamp = firstStamp(currentStamp(service) - len(jobs) // 1000 - 1)
    # Queued jobs in their old order, priorities highest first.
    queued = []
    for priority in reversed(list(old['_queues'] or {})):
        queued.extend(old['_queues'][priority])
    scheduled = {jobid: due for due, jobid in (old['_scheduled'] or ())}
    unscheduled = set(old['_unscheduled'] or ())
    progress = old['_progress'] or {}
    stops = set(old['_stopRequests'] or ())
    order = {jobid: n for n, jobid in enumerate(queued)}
    for job in sorted(jobs, key=lambda job: order.get(job.id, -1)):
        job.__dict__.pop('queueToken', None)
        if job.id in progress:
            job.progress = tuple(progress[job.id])
        if job.id in stops:
            job.stopRequested = True
        status = job.status
        if status == QUEUED or job.id in order:
            if job.id in scheduled:     # a cron job whose run waits
                job.scheduledFor = scheduled[job.id]
            placement.place(service, job, QUEUED,
                            stamp=stamp + order.get(job.id, 0))
        elif status in (CRONJOB, DELAYED, RETRY):
            if job.id in scheduled:
                placement.place(service, job, status)
                placement.file(service, job, scheduled[job.id])
            else:
                job.scheduledFor = None if job.id in unscheduled else \
                    job.scheduledFor
                placement.place(service, job, status)
        elif status == PROCESSING:
            worker = job.worker if job.worker in service._workers else None
            placement.place(service, job, PROCESSING, worker=worker)
        elif status in FINISHED or status == STARTLATER:
            placement.place(service, job, status)
        if job.key is not None and status not in FINISHED:
            service._keys.set(job.key, job.id)
    for name in OLD_ATTRIBUTES:
        service.__dict__.pop(name, None)
    service._stateVersion = type(service)._stateVersion
    service._p_changed = True
    log.info('service %r moved to the stored structures of this version '
             '(%s jobs)', service.__name__, len(jobs))
    return len(jobs)
