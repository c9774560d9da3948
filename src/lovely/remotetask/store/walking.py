"""Walking the finished jobs, oldest first: for retrying, cleaning and
expiring them in batches, one transaction after another.

Finished jobs of each status are in a chain, in the order they finished,
and the intake holds those that finished since the last drain.  Removing
the oldest takes their entries off the chains' heads, and the dead
entries met there too, so that the next batch starts where this one
ended.
"""
import heapq
from typing import Iterator, Optional

from lovely.remotetask.store.stamps import entryStamp


def _oldest(store, statuses) -> Iterator[tuple]:
    """(stamp, chain, segment, entry, job) of the finished jobs of
    `statuses`, oldest first; dead entries have job None."""
    streams = [_entries(store, chain) for status in statuses
               for chain in store.chainsOf(status)]
    fresh = sorted((job._stamp, job.id, job) for job in store.intakeJobs()
                   if job.status in statuses and job._stamp is not None)
    streams.append((stamp, -1, None, None, 0, job)
                   for stamp, _, job in fresh)
    for stamp, _, chain, segment, value, job in heapq.merge(
            *streams, key=lambda item: (item[0], item[1])):
        yield stamp, chain, segment, value, job


def _entries(store, chain):
    for segment, value in chain.entries():
        yield (entryStamp(value), id(chain), chain, segment, value,
               store.live(chain.channel, value))


def oldestFirst(store, statuses) -> Iterator:
    """The jobs of `statuses`, the first to finish first."""
    for _, _, _, _, job in list(_oldest(store, statuses)):
        if job is not None and job.status in statuses:
            yield job


def removeOldest(store, statuses, limit: Optional[int] = None,
                 cutoff: Optional[float] = None) -> int:
    """Remove jobs of `statuses`, the first to finish first: up to
    `limit`, and only those that finished before `cutoff`; return how
    many."""
    removed = 0
    for _, chain, segment, value, job in _oldest(store, statuses):
        if limit is not None and removed >= limit:
            break
        if job is not None and cutoff is not None and \
                job.completed > cutoff:
            break     # those after it finished later still
        if chain is not None and segment is chain.head:
            chain.take(segment, value)
        if job is not None:
            store.forgetKey(job)
            store.remove(job)
            removed += 1
    return removed
