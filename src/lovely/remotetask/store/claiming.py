"""The claim rule: which queued job a worker takes next.

Queued jobs run by priority, highest first, then first in, first out
(see `stamps`), whatever queue or task they belong to.  Each channel of
queued jobs (queue, task, priority) is a chain, followed by the jobs of
the intake that joined it since the last drain; the channels are merged
by (priority, stamp).  A worker may take only some tasks (`accepts`): it
reads only their channels, and jobs of other tasks cost it nothing.

This is the one place that decides what may be claimed.
"""
import heapq
import itertools
import time
from typing import Callable, Iterator, List, NamedTuple, Optional

from lovely.remotetask.interfaces import PROCESSING, QUEUED
from lovely.remotetask.store.channels import channelOf
from lovely.remotetask.store.stamps import entryStamp


class Waiting(NamedTuple):
    """A queued job, and where its entry is (chain and segment, or None
    for a job of the intake)."""

    key: tuple
    job: object
    chain: object = None
    segment: object = None
    value: int = 0


def queued(store, accepts: Optional[Callable[[str], bool]] = None,
           dead: Optional[list] = None, entries=None) -> Iterator[Waiting]:
    """The queued jobs in the order they run.  Dead entries passed at the
    head of a chain are added to `dead` as (chain, segment, entry);
    `entries(chain)` reads a chain's (segment, entry) pairs (from its head
    by default)."""
    fresh = {}
    for job in store.intakeJobs():
        if job._stamp is not None and job.status == QUEUED:
            fresh.setdefault(channelOf(job), []).append(job)
    channels = {chain.channel: chain for chain in store.chainsOf(QUEUED)}
    streams = []
    for channel in channels.keys() | fresh.keys():
        if accepts is not None and not accepts(channel[2]):
            continue
        streams.append(_channel(store, channel, channels.get(channel),
                                fresh.get(channel, ()), dead,
                                entries or _fromHead))
    return heapq.merge(*streams, key=lambda waiting: waiting.key)


def _fromHead(chain):
    return chain.entries()


def _channel(store, channel, chain, fresh, dead, entries) \
        -> Iterator[Waiting]:
    priority = -channel[3]
    if chain is not None:
        passing = dead is not None
        for segment, value in entries(chain):
            job = store.live(channel, value)
            if job is None:
                if passing:
                    dead.append((chain, segment, value))
                continue
            passing = False
            yield Waiting((priority, entryStamp(value), job.id), job, chain,
                          segment, value)
    for job in sorted(fresh, key=lambda job: (job._stamp, job.id)):
        yield Waiting((priority, job._stamp, job.id), job)


def claim(store, workerId: Optional[str], limit: int, spread: int = 0,
          accepts: Optional[Callable[[str], bool]] = None) -> List[object]:
    """Claim up to `limit` queued jobs for `workerId`, in the order they
    run, skipping the first `spread` where there are enough (workers take
    different ones among the first few, so that their claims do not
    collide); return the jobs, now processing."""
    dead = []
    candidates = list(itertools.islice(queued(store, accepts, dead),
                                       spread + limit))
    start = max(0, min(spread, len(candidates) - limit))
    for chain, segment, value in dead:
        chain.take(segment, value)
    claimed = []
    for waiting in candidates[start:start + limit]:
        if waiting.segment is not None:
            waiting.chain.take(waiting.segment, waiting.value)
        claimed.append(start_(store, waiting.job, workerId))
    return claimed


def start_(store, job, workerId):
    """Move a queued job into the hands of `workerId` for a new attempt."""
    store.take(job)
    job.attempts += 1
    job.started = time.time()
    store.place(job, PROCESSING, worker=workerId)
    return job


def oldest(store) -> Optional[tuple]:
    """(stamp, job) of the queued job that waits longest (whatever its
    priority), or None."""
    first = None
    for chain in store.chainsOf(QUEUED):
        for _, value in chain.entries():
            job = store.live(chain.channel, value)
            if job is not None:
                if first is None or entryStamp(value) < first[0]:
                    first = (entryStamp(value), job)
                break
    for job in store.intakeJobs():
        if job._stamp is not None and job.status == QUEUED and (
                first is None or job._stamp < first[0]):
            first = (job._stamp, job)
    return first
