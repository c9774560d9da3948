"""The processing threads of this process, one per service.

Threads are found by database and service oid, and named after the
service's place below the application root, so that two services of the
same name in different sites run apart.

When the process exits, `shutdown` stops them and gives back the jobs in
hand, so that none waits out its lease after a clean restart: at normal
exit through `atexit`, and on SIGTERM too unless the host handles SIGTERM
itself (then its own shutdown should call `shutdown`).  A host that closes
its database first (Zope does, as it exits) stops the processors of that
database as it closes it.
"""
import atexit
import dataclasses
import logging
import signal
import threading
import time
from typing import List, Optional

import transaction
from ZODB.utils import z64

from lovely.remotetask.runtime import context, zeooids
from lovely.remotetask.commits import afterCommit
from lovely.remotetask.exceptions import RemoteTaskError
from lovely.remotetask.interfaces import CANCELLED
from lovely.remotetask.naming import servicePath
from lovely.remotetask.timing.retry import policyOf
from lovely.remotetask.runtime.attempt import Outcome

log = logging.getLogger('lovely.remotetask')

THREAD_PREFIX = 'remotetasks.'


@dataclasses.dataclass
class _Running:
    thread: threading.Thread
    processor: object


_lock = threading.Lock()
_running = {}


def _key(service):
    """The key of a committed service, or None for one that is not."""
    jar = service._p_jar
    if jar is None or service._p_oid is None or service._p_serial == z64:
        return None
    return id(jar.db()), service._p_oid


def threadName(service) -> str:
    return THREAD_PREFIX + servicePath(service)


def start(service, factory=None, **arguments) -> None:
    """Start `service`'s processor in a daemon thread, unless it runs.

    `factory` and `arguments` override the service's `processorFactory`
    and `processorArguments`.
    """
    key = _key(service)
    if key is None:
        raise RemoteTaskError(
            f'{service!r} is not stored in a database: store it and commit '
            f'before it can process')
    with _lock:
        entry = _running.get(key)
    if entry is not None:
        if entry.processor.running:
            return
        # A stopped processor finishes the job in hand before a new one
        # may start: two loops would break SimpleProcessor's one at a time.
        entry.thread.join()
    name = threadName(service)
    factory = factory or service.processorFactory
    arguments = dict(service.processorArguments, **arguments)
    processor = factory(
        service._p_jar.db(), service._p_oid, name=name, **arguments)
    _installExitHooks()
    _stopBeforeClose(service._p_jar.db())
    zeooids.mendOids(service._p_jar.db().storage)
    thread = threading.Thread(
        target=_run, args=(key, processor), name=name, daemon=True)
    with _lock:
        entry = _running.get(key)
        if entry is not None and entry.processor.running:
            return  # another thread started it meanwhile
        _running[key] = _Running(thread, processor)
    thread.start()


def _run(key, processor):
    """Run a processor until it is stopped; one that dies (its database
    away for long, a bug) is logged at CRITICAL and started again, never
    left dead."""
    wait = 0.1
    try:
        while processor.running:
            try:
                processor()
            except BaseException:
                if not processor.running:
                    raise
                log.critical('processor %s died; it starts again in %g s',
                             threading.current_thread().name, wait,
                             exc_info=True)
            else:
                if not processor.running:
                    break
                log.critical('processor %s ended while it should run; it '
                             'starts again in %g s',
                             threading.current_thread().name, wait)
            deadline = time.monotonic() + wait
            while processor.running and time.monotonic() < deadline:
                time.sleep(0.05)
            wait = min(2 * wait, 30.0)
    finally:
        with _lock:
            entry = _running.get(key)
            if entry is not None and entry.processor is processor:
                del _running[key]


def stop(service, wait: Optional[float] = 0) -> None:
    """Ask `service`'s processor to stop; wait up to `wait` seconds for it
    (None: until it has)."""
    with _lock:
        entry = _running.get(_key(service))
    if entry is None:
        return
    entry.processor.stop()
    if wait is None or wait > 0:
        entry.thread.join(wait)


def blocked() -> float:
    """For how many seconds the processor blocked longest (by tasks that
    ignored their time limits, see SimpleProcessor.maxAbandoned) has been;
    0 when none is."""
    with _lock:
        since = [getattr(entry.processor, 'blockedSince', None)
                 for entry in _running.values()]
    since = [value for value in since if value is not None]
    return time.monotonic() - min(since) if since else 0.0


def serviceOids(db) -> List[bytes]:
    """The oids of the services of `db` that process in this process."""
    with _lock:
        return [oid for (dbid, oid) in _running if dbid == id(db)]


def processorOf(service):
    """The processor that runs `service` in this process, or None."""
    with _lock:
        entry = _running.get(_key(service))
    return None if entry is None else entry.processor


def isRunning(service) -> bool:
    with _lock:
        entry = _running.get(_key(service))
    return (entry is not None and entry.processor.running
            and entry.thread.is_alive())


def wakeAfterCommit(service) -> None:
    """Wake `service`'s processor once the current transaction commits,
    if one runs in this process.  With none (an application whose workers
    run elsewhere) the transaction gets no hook: a transaction with one
    aborts every connection it used once it committed, a few percent of
    an add.  A processor started between the add and the commit finds the
    job when it looks next."""
    key = _key(service)
    if key in _running:     # a hint, read without the lock
        afterCommit(service, lambda: _wake(key), once=service)


def _wake(key):
    with _lock:
        entry = _running.get(key)
    if entry is not None:
        entry.processor.wake()


def stopAll(timeout: Optional[float] = None) -> List[str]:
    """Stop every processing thread of this process, wait for them up to
    `timeout` seconds in all, and return the names of those still busy."""
    with _lock:
        entries = list(_running.values())
    for entry in entries:
        entry.processor.stop()
    deadline = None if timeout is None else time.monotonic() + timeout
    for entry in entries:
        entry.thread.join(
            None if deadline is None else max(0, deadline - time.monotonic()))
    return [entry.thread.name for entry in entries
            if entry.thread.is_alive()]


def requestStopAfterCommit(service, jobid: int) -> None:
    """Once the transaction commits, ask the job if it runs in this process
    to stop; workers elsewhere learn of it from the service."""
    oid = service._p_oid
    afterCommit(service, lambda: context.requestStop(oid, jobid, CANCELLED))


# Stopping with the process

#: Seconds an exiting process gives the jobs in hand to finish before it
#: gives them back.
EXIT_GRACE = 5.0
#: Whether the first start in the main thread, finding SIGTERM's default
#: action (the process dies, and no exit hook runs), makes SIGTERM exit
#: the process normally instead.  Set it to False before starting to keep
#: the default.  A handler the host installed is never replaced.
HANDLE_SIGTERM = True

_hooked = False


def shutdown(timeout: Optional[float] = None, db=None) -> List[str]:
    """Stop every processor of this process, wait up to `timeout` seconds
    (default `EXIT_GRACE`) for the jobs in hand, and give back those still
    running: they wait in the queue again (the attempt counts, as when a
    lease expires).  Return the names of the processors that were still
    busy.

    Called at exit; a server that manages its own signals and leaves by
    ``os._exit`` calls it from its shutdown hook.  With `db`, only the
    processors of that database stop.
    """
    with _lock:
        entries = [entry for entry in _running.values()
                   if db is None or entry.processor.db is db]
    for entry in entries:
        entry.processor.stop()
    timeout = EXIT_GRACE if timeout is None else timeout
    deadline = time.monotonic() + timeout
    for entry in entries:
        entry.thread.join(max(0, deadline - time.monotonic()))
    busy = [entry.thread.name for entry in entries
            if entry.thread.is_alive()]
    for entry in entries:
        if entry.thread.is_alive():
            _giveBack(entry.processor)
    return busy


def _giveBack(processor) -> None:
    """Give back the jobs `processor` holds and forget its worker, on a
    connection of our own."""
    tm = transaction.TransactionManager()
    try:
        connection = processor.db.open(transaction_manager=tm)
    except Exception:
        log.exception('%s: its jobs could not be given back; they will be '
                      'taken back when their leases expire', processor.name)
        return
    try:
        for attempt in tm.attempts(5):
            with attempt:
                given = _releaseHeld(connection.get(processor.serviceOid),
                                     processor.workerId)
        for jobid in given:
            log.warning('job %s given back: this process stopped while it '
                        'ran', jobid)
    except Exception:
        log.exception('%s: its jobs could not be given back; they will be '
                      'taken back when their leases expire', processor.name)
    finally:
        tm.abort()
        connection.close()


def _releaseHeld(service, workerId) -> List[int]:
    given = []
    for jobid in service.heldBy(workerId):
        job = service.jobs.get(jobid)
        if job is None or job.worker != workerId:
            continue
        policy = policyOf(service.queryTask(job.task))
        service.recordOutcome(Outcome(
            jobid, job.attempts,
            retryable=job.attempts - job.retryBase < policy.maxAttempts,
            error=f'the process stopped during attempt {job.attempts}'))
        given.append(jobid)
    service.unregisterWorker(workerId)
    return given


def _stopBeforeClose(db) -> None:
    """Make `db.close()` stop this process's processors of `db` first."""
    if getattr(db, '_remotetaskStopsFirst', False):
        return
    close = db.close

    def stopFirst(*args, **kw):
        with _lock:
            running = any(entry.processor.db is db
                          for entry in _running.values())
        if running:
            shutdown(db=db)
        return close(*args, **kw)

    db.close = stopFirst
    db._remotetaskStopsFirst = True


def _installExitHooks() -> None:
    global _hooked
    with _lock:
        if _hooked:
            return
        _hooked = True
    atexit.register(_atExit)
    if HANDLE_SIGTERM and \
            threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exitOnSigterm)


def _exitOnSigterm(signum, frame):
    # Unwind the main thread as for sys.exit(), so that exit hooks run.
    raise SystemExit(128 + signum)


def _atExit() -> None:
    with _lock:
        idle = not _running
    if not idle:
        shutdown()
