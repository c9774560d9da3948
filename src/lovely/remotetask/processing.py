"""The processing threads of this process, one per service.

Threads are found by database and service oid, and named after the
service's place below the application root, so that two services of the
same name in different sites run apart.
"""
import dataclasses
import logging
import threading
import time
from typing import List, Optional

from ZODB.utils import z64

from lovely.remotetask import context
from lovely.remotetask.exceptions import RemoteTaskError
from lovely.remotetask.interfaces import CANCELLED
from lovely.remotetask.locate import servicePath

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
    thread = threading.Thread(
        target=_run, args=(key, processor), name=name, daemon=True)
    with _lock:
        entry = _running.get(key)
        if entry is not None and entry.processor.running:
            return  # another thread started it meanwhile
        _running[key] = _Running(thread, processor)
    thread.start()


def _run(key, processor):
    try:
        processor()
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


def isRunning(service) -> bool:
    with _lock:
        entry = _running.get(_key(service))
    return (entry is not None and entry.processor.running
            and entry.thread.is_alive())


def wakeAfterCommit(service) -> None:
    """Wake `service`'s processor once the current transaction commits."""
    jar = service._p_jar
    if jar is None or service._p_oid is None:
        return
    txn = jar.transaction_manager.get()
    try:
        txn.data(service)
    except KeyError:
        txn.set_data(service, True)
        txn.addAfterCommitHook(_wake, args=(id(jar.db()), service._p_oid))


def _wake(committed, dbid, oid):
    if not committed:
        return
    with _lock:
        entry = _running.get((dbid, oid))
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
    jar = service._p_jar
    if jar is None or service._p_oid is None:
        context.requestStop(service._p_oid, jobid, CANCELLED)
        return
    jar.transaction_manager.get().addAfterCommitHook(
        lambda committed: committed and context.requestStop(
            service._p_oid, jobid, CANCELLED))
