"""The lease keeper: a processor's housekeeping thread.

While a processor runs, its lease keeper beats the worker's heartbeat,
takes back the jobs of workers that stopped beating (see `workers`),
removes expired finished jobs, drains the intake when no claim did,
starts packs of the database when the service's settings want them (see
`packing`), queues scheduled jobs as they come due (waking the processor),
and passes stop requests on to the worker's running jobs.
"""
import logging
import threading
import time

from ZODB.POSException import POSKeyError

from lovely.remotetask.interfaces import CANCELLED
from lovely.remotetask.runtime import context, packing
from lovely.remotetask.runtime.steps import Station

log = logging.getLogger('lovely.remotetask')


#: Finished jobs removed per transaction when they expire.
EXPIRE_PART = 500


class LeaseKeeper(threading.Thread):

    #: Seconds between looks for due jobs and stop requests.
    TICK = 0.5

    def __init__(self, processor) -> None:
        super().__init__(name=f'remotetask-lease-{processor.name}',
                         daemon=True)
        self.processor = processor
        self.stopping = threading.Event()
        #: When this worker's last heartbeat committed (database time), and
        #: before when it takes back no other worker's jobs.
        self.lastSeen = None
        self.recoverAfter = 0.0

    def run(self) -> None:
        processor = self.processor
        interval = processor.leaseTime / 4
        lastBeat = time.monotonic()
        with Station(processor.db, processor.serviceOid,
                     processor.workerId) as station:
            while not self.stopping.wait(min(self.TICK, interval)):
                try:
                    if time.monotonic() - lastBeat >= interval:
                        beat = time.monotonic()
                        self.beat(station)
                        lastBeat = beat   # a failed beat is tried next tick
                    self.promote(station)
                    self.processor.drainer.onTick(station)
                    self.passStopRequests(station)
                except POSKeyError as error:
                    # A pack dropped what this transaction began from (a
                    # clock far off, or a pause longer than the history
                    # packs keep): a new transaction reads what is current.
                    log.warning('worker %s: lease keeping read an object '
                                'a pack removed (%s); it tries again',
                                processor.workerId, error)
                except Exception:
                    log.exception('worker %s: lease keeping failed',
                                  processor.workerId)
            packing.waitForPack(processor)

    def beat(self, station) -> None:
        processor = self.processor
        workerId, leaseTime = processor.workerId, processor.leaseTime
        stalled = processor.abandoned if processor.blockedSince else 0
        record = station.commitOrRetry(
            lambda service: service.heartbeat(workerId, leaseTime, stalled,
                                              processor.serves()),
            timeout=leaseTime)
        now, before = record.heartbeat.lastSeen, self.lastSeen
        self.lastSeen = now
        steps = []
        if before is not None and now - before > leaseTime:
            # This worker could not beat for longer than a lease: the
            # database was away, and live workers could not beat either.
            # They get a lease to beat again before their jobs are taken.
            self.recoverAfter = now + leaseTime
            log.warning('worker %s: no heartbeat for %.0f s (the database '
                        'was out of reach?); it takes back no jobs of other '
                        'workers for %g s', workerId, now - before, leaseTime)
        if now >= self.recoverAfter:
            steps.insert(0, lambda service: service.recoverJobs(now))
        for step in steps:
            station.commitOrRetry(step, timeout=leaseTime)
        self.releaseOrphans(station)
        self.expire(station, budget=leaseTime / 8)
        packing.packIfDue(station, self.processor)

    def releaseOrphans(self, station) -> None:
        """Give back the jobs the database says this worker holds that
        its loops do not know they claimed (a claim whose commit failed as
        far as they could tell, yet went through).  A loop's next claim
        does it too, but a loop that waits for jobs to come claims no
        more, and the job would stay processing under a live worker."""
        processor = self.processor
        held = station.read(lambda service: service.heldBy(
            processor.workerId))
        if set(held) <= processor.inHand():
            return
        with processor.claimLock:       # no claim of its loops meanwhile
            inHand = processor.inHand()
            station.commitOrRetry(
                lambda service: service.releaseOrphans(processor.workerId,
                                                       inHand),
                timeout=processor.leaseTime)

    def expire(self, station, budget: float) -> None:
        """Remove expired finished jobs, a part per transaction, while
        parts come full and for at most `budget` seconds: enough to keep
        up with jobs finishing at any rate between two heartbeats."""
        deadline = time.monotonic() + budget
        while station.commitOrRetry(
                lambda service: service.expire(limit=EXPIRE_PART),
                timeout=self.processor.leaseTime) == EXPIRE_PART and \
                time.monotonic() < deadline and not self.stopping.is_set():
            pass

    def promote(self, station) -> None:
        """Queue the scheduled jobs that came due, and wake the processor
        for them."""
        now = time.time()
        due = station.read(lambda service: service.nextDue())
        if due is None or due > now:
            return
        if station.commitOrRetry(lambda service: service.promote(now),
                                 timeout=self.processor.leaseTime):
            self.processor.wake()

    def passStopRequests(self, station) -> None:
        workerId = self.processor.workerId
        jobids = station.read(lambda service: service.stopRequested(
            service.heldBy(workerId)))
        for jobid in jobids:
            context.requestStop(self.processor.serviceOid, jobid, CANCELLED)
