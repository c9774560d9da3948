"""Packing: a job database that does not fill the disk.

ZODB keeps every revision of every object until the database is packed,
and a job queue writes all the time: each job leaves kilobytes of history
behind (docs/operations.rst measures how much on each storage), and the
finished jobs that `expire()` and `clean()` remove stay on disk too, until
a pack.  A pack drops the revisions older than its pack time that were no
longer current then, and the objects no longer reachable then.

A service whose `packEvery` is set packs its database every `packEvery`
seconds, keeping `packKeep` seconds of history: its processors' lease
keepers start the packs (`packIfDue`), ``remotetask pack`` packs from the
command line (`pack`).  Either way a pack first removes the finished jobs
past their retention (`keepFinished`), so that they leave the disk and not
only the service, and it runs in a thread of its own: the processors go on
running jobs meanwhile.

A pack never drops the history that transactions running meanwhile may
still need.  A transaction reads the database as it was when it began: a
revision that a later one replaced, and that the pack dropped, is gone
for it (ZODB raises POSKeyError, or ReadConflictError), and at its commit
a conflict on an object whose revision it began from was dropped cannot
be resolved.  So a pack keeps at least `PACK_KEEP_MIN` seconds of
history, longer than any step of a processor takes, and all the history
since the oldest job of its services that runs now started: a task runs
in a transaction that began when its job was claimed.

One pack runs at a time, whichever process starts it: a packer holds the
database's pack lease, a `PackRecord` in the database root, written in
transactions of its own.  Two packers that take it at once change the same
object, so one of them conflicts and gives up.  The holder renews the
lease while it packs, and one that died holding it loses it after its
`leaseTime`.  The record also keeps how the last pack went, for metrics.
"""
import dataclasses
import logging
import math
import threading
import time
import weakref
from typing import Iterable, Optional

import transaction
from transaction.interfaces import TransientError

from lovely.remotetask import checks
from lovely.remotetask.defaults import PACK_KEEP_MIN, PACK_LEASE_TIME
from lovely.remotetask.exceptions import InvalidArgumentError, PackBusyError
from lovely.remotetask.interfaces import PROCESSING
from lovely.remotetask.retrying import Backoff
from lovely.remotetask.runtime.steps import Station, poolGrownBy
from lovely.remotetask.store.packrecord import PackRecord
from lovely.remotetask.store.workers import newWorkerId

__all__ = ['KEY', 'PACK_KEEP_MIN', 'PackRecord', 'PackResult', 'lastPack',
           'pack', 'packIfDue', 'waitForPack']

log = logging.getLogger('lovely.remotetask')

#: The key of the pack lease (a `PackRecord`) in the database root.
KEY = 'lovely.remotetask.pack'

#: Finished jobs removed per transaction before a pack.
EXPIRE_PART = 1000

#: How often taking the lease is tried when it conflicts.
ATTEMPTS = 3


def checkPackEvery(value):
    """None (no automatic packs), or a positive number of seconds."""
    return checks.seconds('packEvery', value, positive=True,
                          noneMeans='for no automatic packs')


def checkPackKeep(value, name: str = 'packKeep'):
    """A number of seconds, `PACK_KEEP_MIN` or more."""
    if not checks.isNumber(value) or value < PACK_KEEP_MIN:
        raise InvalidArgumentError(
            f'{name} must be a number of seconds, at least '
            f'{PACK_KEEP_MIN:g}: transactions that run while a pack works '
            f'may still read the history it drops; not {value!r}')
    return value


@dataclasses.dataclass
class PackResult:
    """What a pack did."""
    #: The history before this time (epoch seconds) was dropped.
    packTime: float
    started: float
    seconds: float
    #: The storage's size before and after, in bytes (None: it cannot say).
    sizeBefore: Optional[int]
    sizeAfter: Optional[int]
    #: Finished jobs removed first, as past their retention.
    expired: int
    error: Optional[str] = None

    def asDict(self) -> dict:
        return dataclasses.asdict(self)


def pack(db, keep: float = PACK_KEEP_MIN, *,
         services: Iterable[bytes] = (), now: Optional[float] = None,
         holder: Optional[str] = None,
         leaseTime: float = PACK_LEASE_TIME) -> PackResult:
    """Remove the finished jobs of `services` (their oids) past their
    retention, then pack `db`, keeping the history of the `keep` seconds
    before `now` (at least `PACK_KEEP_MIN`), and before the oldest job of
    `services` that runs now started.  Raise PackBusyError, doing nothing,
    when another pack of `db` runs; any other error of the pack is raised
    once the lease is given back."""
    checkPackKeep(keep, 'keep')
    now = checks.moment(now)
    holder = holder or f'pack {newWorkerId()}'
    with poolGrownBy(db, 2):
        lease = _Lease(db, holder, leaseTime)
        try:
            lease.take()
            work = _Work(db, keep, now, list(services), holder)
            thread = threading.Thread(target=work, daemon=True,
                                      name=f'remotetask-pack-{holder}')
            thread.start()
            # The lease lives while the pack works: renew it at a quarter
            # of its time.
            while not work.done.wait(leaseTime / 4):
                lease.renew()
            lease.giveBack(work.result)
        finally:
            lease.close()
    if work.failure is not None:
        raise work.failure
    return work.result


class _Work:
    """What a pack does under the lease, in a thread of its own."""

    def __init__(self, db, keep, now, services, holder) -> None:
        self.db, self.keep, self.now = db, keep, now
        self.services, self.holder = services, holder
        self.done = threading.Event()
        self.result = self.failure = None

    def __call__(self) -> None:
        expired = 0
        started = time.time()
        packTime = self.now - self.keep
        sizeBefore = None
        try:
            for oid in self.services:
                expired += _expireAll(self.db, oid, self.holder)
            sizeBefore = _size(self.db)
            started = time.time()
            packTime = min(self.now, _oldestRunning(
                self.db, self.services, self.holder)) - self.keep
            self.db.pack(packTime)
            self.result = PackResult(
                packTime, started, time.time() - started,
                sizeBefore, _size(self.db), expired)
        except BaseException as error:
            self.failure = error
            self.result = PackResult(
                packTime, started, time.time() - started,
                sizeBefore, _size(self.db), expired,
                error=f'{type(error).__name__}: {error}')
        finally:
            self.done.set()


def _expireAll(db, oid, holder) -> int:
    """Remove the finished jobs of a service past its retention, in
    parts; return how many."""
    removed = 0
    with Station(db, oid, holder) as station:
        while True:
            part = station.commitOrRetry(
                lambda service: service.expire(limit=EXPIRE_PART))
            removed += part
            if part < EXPIRE_PART:
                return removed


def _oldestRunning(db, oids, holder) -> float:
    """When the oldest job of the services that runs now was claimed
    (inf when none runs): its task's transaction began then."""
    oldest = math.inf
    for oid in oids:
        with Station(db, oid, holder) as station:
            oldest = min(oldest, station.read(_oldestStart))
    return oldest


def _oldestStart(service) -> float:
    oldest, after = math.inf, None
    while True:
        page, after = service.jobsPage(PROCESSING, after=after, limit=500)
        for job in page:
            if job.started is not None:
                oldest = min(oldest, job.started)
        if after is None:
            return oldest


def _size(db) -> Optional[int]:
    try:
        return db.storage.getSize()
    except Exception:
        return None


class _Lease:
    """The pack lease of a database, on a connection of its own."""

    def __init__(self, db, holder: str, leaseTime: float) -> None:
        self.holder, self.leaseTime = holder, leaseTime
        self.tm = transaction.TransactionManager()
        self.connection = db.open(transaction_manager=self.tm)

    def close(self) -> None:
        self.tm.abort()
        self.connection.close()

    def take(self) -> None:
        backoff = Backoff(first=0.01)
        for attempt in range(ATTEMPTS):
            backoff.wait()
            self.tm.begin()
            try:
                root = self.connection.root()
                record = root.get(KEY)
                if record is None:
                    record = root[KEY] = PackRecord()
                elif record.isHeld(time.time()):
                    raise PackBusyError(
                        f'another pack of this database runs: '
                        f'{record.holder}, since {_when(record.started)}; '
                        f'nothing was done')
                elif record.holder is not None:
                    log.warning('pack lease of %s taken over: it was not '
                                'renewed for %.0f s', record.holder,
                                time.time() - record.lastSeen)
                record.holder = self.holder
                record.leaseTime = self.leaseTime
                record.started = time.time()
                self.tm.commit()
                return
            except TransientError:
                self.tm.abort()   # taken at the same time: look again
            except BaseException:
                self.tm.abort()
                raise
        raise PackBusyError(f'the pack lease stayed busy for {ATTEMPTS} '
                            f'attempts; nothing was done')

    def renew(self) -> None:
        self.tm.begin()
        try:
            record = self.connection.root().get(KEY)
            if record is None or record.holder != self.holder:
                log.error('pack lease of %s lost to %s: the pack goes on',
                          self.holder, getattr(record, 'holder', None))
                self.tm.abort()
                return
            record._p_changed = True    # a new serial: renewed
            self.tm.commit()
        except TransientError:
            self.tm.abort()   # the next renewal is soon enough
        except BaseException:
            self.tm.abort()
            raise

    def giveBack(self, result: PackResult) -> None:
        """Give the lease back, noting how the pack went; a storage that
        went away meanwhile leaves the lease to run out."""
        backoff = Backoff()
        deadline = time.monotonic() + self.leaseTime
        while True:
            self.tm.begin()
            try:
                record = self.connection.root().get(KEY)
                if record is None or record.holder != self.holder:
                    self.tm.abort()
                    return
                record.holder = None
                record.finished = time.time()
                record.seconds = result.seconds
                record.error = result.error
                record.packTime = result.packTime
                record.sizeBefore = result.sizeBefore
                record.sizeAfter = result.sizeAfter
                record.packs += 1
                self.tm.commit()
                return
            except TransientError:
                self.tm.abort()
                if time.monotonic() > deadline:
                    log.error('pack lease of %s could not be given back; '
                              'it runs out in %s s', self.holder,
                              self.leaseTime)
                    return
                backoff.wait()
            except BaseException:
                self.tm.abort()
                raise


def _when(timestamp) -> str:
    if timestamp is None:
        return 'a moment ago'
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(timestamp))


def lastPack(connection) -> Optional[PackRecord]:
    """The pack record of the database of `connection`, or None when it
    was never packed through this package."""
    return connection.root().get(KEY)


# Automatic packs, started by lease keepers

_lock = threading.Lock()
#: db -> the pack thread this process runs on it.
_threads = weakref.WeakKeyDictionary()


def packIfDue(station, processor) -> bool:
    """Start a pack of the processor's database in a thread of its own, if
    its service's `packEvery` wants one now and no pack runs; return
    whether one started."""
    now = time.time()
    keep, due = station.read(lambda service: (
        service.packKeep,
        service.packEvery is not None and _isDue(service, now)))
    # A packKeep stored before PACK_KEEP_MIN existed may be below it.
    keep = max(keep, PACK_KEEP_MIN)
    if not due or not processor.running:
        return False
    db = processor.db
    with _lock:
        running = _threads.get(db)
        if running is not None and running.is_alive():
            return False
        thread = _threads[db] = _PackThread(db, keep, processor)
    thread.start()
    return True


def _isDue(service, now) -> bool:
    record = lastPack(service._p_jar)
    return record is None or record.isDue(service.packEvery, now)


class _PackThread(threading.Thread):
    """A pack started by a processor's lease keeper."""

    def __init__(self, db, keep, processor) -> None:
        super().__init__(name=f'remotetask-pack-{processor.name}',
                         daemon=True)
        self.db, self.keep, self.owner = db, keep, processor

    def run(self) -> None:
        owner = self.owner
        try:
            result = pack(self.db, self.keep, services=[owner.serviceOid],
                          holder=f'worker {owner.workerId}')
        except PackBusyError:
            return              # another process packs
        except Exception:
            log.exception('packing the database failed')
            return
        log.info('database packed in %.1f s: %s -> %s bytes%s',
                 result.seconds, result.sizeBefore, result.sizeAfter,
                 f' ({result.expired} finished jobs expired first)'
                 if result.expired else '')


def waitForPack(processor) -> None:
    """Wait for the pack that `processor` started, if it runs: a database
    closed under a pack may be left with the pack half done."""
    with _lock:
        thread = _threads.get(processor.db)
    if thread is None or thread.owner is not processor or \
            not thread.is_alive():
        return
    log.info('processor %s waits for its pack of the database to finish',
             processor.name)
    thread.join()
