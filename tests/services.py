"""Helpers for tests that run a service in background threads, and for
what a read costs."""
import transaction

from lovely import remotetask
from lovely.remotetask import testing


def newService(app, name='svc', **processor):
    """A committed service in `app`; `processor` may name a `factory` and
    its arguments."""
    service = app[name] = remotetask.TaskService()
    if 'factory' in processor:
        service.processorFactory = processor.pop('factory')
    if processor:
        service.processorArguments = processor
    transaction.commit()
    return service


def waitForStatus(service, jobids, status='completed', timeout=30):
    """Wait until each of `jobids` (or the one id) has `status`."""
    if isinstance(jobids, int):
        jobids = [jobids]
    connection = service._p_jar
    remaining = set(jobids)

    def done():
        connection.sync()
        remaining.difference_update(
            [j for j in remaining if service.getStatus(j) == status])
        return not remaining

    testing.waitUntil(done, timeout, interval=0.01)


def loads(db, read):
    """How many objects `read()` loads from the storage, cache emptied."""
    db.cacheMinimize()
    loaded = []
    storage = db.storage
    original = storage.loadBefore
    storage.loadBefore = lambda oid, tid: (loaded.append(oid),
                                           original(oid, tid))[1]
    try:
        read()
    finally:
        del storage.loadBefore
    return len(set(loaded))
