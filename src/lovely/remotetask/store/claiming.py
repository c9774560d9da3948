"""The claim rule: which queued job a worker takes next.

Queued jobs run by priority, highest first, then first in, first out
(see `stamps`), whatever queue or task they belong to.  Each channel of
queued jobs (queue, task, priority, partition) is a chain, followed by
the jobs of the intake that joined it since the last drain (of its
oldest entries: see `INTAKE_READS` and `freshQueued`); the channels are
merged by (priority, stamp).

What may not run now is passed by channel, without reading its jobs: the
channels of tasks or queues a worker does not take (`accepts`), those of
a paused queue, and those whose limits have no room (`rules`, see
`limits`).  A job held so costs other channels nothing, and no attempt.
A job whose deadline passed is cancelled instead of claimed.

This is the one place that decides what may be claimed.
"""
import functools
import heapq
import itertools
import time
from typing import (
    Callable, Iterator, List, NamedTuple, Optional, Set, Tuple)

from lovely.remotetask.interfaces import QUEUED
from lovely.remotetask.store import limits, scheduling
from lovely.remotetask.store.channels import channelOf
from lovely.remotetask.store.stamps import entryStamp, tidTime


#: The most entries of the intake a claim reads, the oldest: the jobs
#: behind them wait for a drain (one starts after any commit that sees
#: the intake long).  A claim then costs the same behind a flood of jobs
#: added in one commit as behind none.
INTAKE_READS = 256


#: The most jobs past its `limit` that a claim reads to choose among.
SHARE_READS = 256

#: Seconds within which a worker that claimed or recorded counts as busy:
#: it takes its own next jobs itself (see `_share`).
BUSY = 1.0

#: How many claims' worth of a busy worker's next jobs the others leave to
#: it: its loops claim in turn, a few while another's claim commits.
NEXT_CLAIMS = 4


class Waiting(NamedTuple):
    """A queued job, and where its entry is (chain and segment, or None
    for a job of the intake)."""

    key: tuple
    job: object
    chain: object = None
    segment: object = None
    value: int = 0


def queued(store, accepts: Optional[Callable[[str, str], bool]] = None,
           dead: Optional[list] = None, entries=None,
           room: Optional[Callable[[tuple], Optional[int]]] = None) \
        -> Iterator[Waiting]:
    """The queued jobs in the order they run.

    `accepts(queue, task)` says which channels to read; `room(channel)`
    how many more of a channel's jobs may come (None: any), asked before
    each.  Dead entries passed at the head of a chain are added to `dead`
    as (chain, segment, entry); `entries(chain)` reads a chain's (segment,
    entry) pairs (from its head by default)."""
    fresh = {}
    for job in freshQueued(store):
        fresh.setdefault(channelOf(job), []).append(job)
    channels = {chain.channel: chain for chain in store.chainsOf(QUEUED)}
    streams = []
    for channel in channels.keys() | fresh.keys():
        if accepts is not None and not accepts(channel[1], channel[2]):
            continue
        streams.append(_channel(store, channel, channels.get(channel),
                                fresh.get(channel, ()), dead,
                                entries or _fromHead, room))
    return heapq.merge(*streams, key=lambda waiting: waiting.key)


def freshQueued(store) -> list:
    """The queued jobs of the intake's oldest `INTAKE_READS` entries, or
    of the first part of that many that holds any.  Entries of jobs that
    moved on since (claimed, run) are passed: in one long transaction, as
    in-place `process` runs with no drain between, they fill the head."""
    for start in range(0, len(store.intake.jobs), INTAKE_READS):
        found = [job for job in store.intakeJobs(INTAKE_READS, start)
                 if job._stamp is not None and job.status == QUEUED]
        if found:
            return found
    return []


def _fromHead(chain):
    return chain.entries()


def _channel(store, channel, chain, fresh, dead, entries, room) \
        -> Iterator[Waiting]:
    priority = -channel[3]

    def full():
        return room is not None and room(channel) == 0

    if full():
        return
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
            if full():
                return
    for job in sorted(fresh, key=lambda job: (job._stamp, job.id)):
        yield Waiting((priority, job._stamp, job.id), job)
        if full():
            return


def claim(store, workerId: Optional[str], limit: int,
          share: Tuple[int, int] = (0, 1), accepts=None, rules=None,
          now: Optional[float] = None,
          report: Optional[dict] = None) -> List[object]:
    """Claim up to `limit` queued jobs for `workerId`, in the order they
    run; return the jobs, now processing.  `share` is the worker's place
    among all workers and their number: workers take different ones
    among the first few (see `_share`), so that their claims do not
    collide.

    `rules(channel)` gives the limits of a channel's jobs; with `report`,
    a dict, ``report['opens']`` says when a rate that held jobs back
    allows the next start (for the processor's next look).
    """
    now = time.time() if now is None else now
    tallies, held = {}, []

    def room(channel):
        found = limits.roomOf(store, rules(channel), now, tallies) \
            if rules is not None else None
        if found == 0:
            held.append(channel)
        return found

    dead, chosen = [], []
    for waiting in queued(store, accepts, dead,
                          room=room if rules is not None else None):
        if len(chosen) == _window(limit, share[1]):
            break
        job = waiting.job
        if job.deadline is not None and job.deadline < now:
            _missed(store, waiting, now)
            continue
        jobRules = rules(channelOf(job)) if rules is not None else ()
        if jobRules and room(channelOf(job)) == 0:
            continue     # (read ahead of the room: the merge takes one)
        for scope, _, _ in jobRules:
            if tallies.get(scope) is not None:
                tallies[scope] -= 1
        chosen.append((waiting, jobRules))
    for chain, segment, value in dead:
        chain.take(segment, value)
    claimed = []
    busy = functools.cache(lambda: _busyPlaces(store))   # if asked
    for waiting, jobRules in _share(chosen, limit, *share, busy):
        if waiting.segment is not None:
            waiting.chain.take(waiting.segment, waiting.value)
        store.start(waiting.job, workerId, jobRules, now)
        claimed.append(waiting.job)
    if report is not None and held and rules is not None:
        opens = [limits.opensAt(store, rules(channel), now)
                 for channel in held]
        opens = [when for when in opens if when is not None]
        if opens:
            report['opens'] = min(opens)
    return claimed


def _window(limit: int, workers: int) -> int:
    """How many of the first jobs a claim chooses among: enough that each
    worker finds jobs of its own there (see `_share`)."""
    return limit if workers < 2 else min(limit * workers * 4,
                                         limit + SHARE_READS)


def _share(chosen: list, limit: int, place: int, workers: int,
           busy: Callable[[], Set[int]] = frozenset) -> list:
    """The `limit` of `chosen` (waiting, rules), in the order they run,
    that the worker at `place` among `workers` takes: by priority, and
    within the priority where it must choose, first the jobs whose id
    falls to its place, then (see `_preference`) those of the others.
    Ids stay where they are when the queue's head moves, so workers that
    read the queue a few commits apart still choose different jobs; and a
    worker gone quiet leaves no job behind (others take it once theirs run
    out).  `busy()` gives the places of the workers that claim now: their
    next jobs are theirs to take, and taken last."""
    if len(chosen) <= limit:
        return chosen
    taken = []
    for _, group in itertools.groupby(chosen, key=lambda c: c[0].key[0]):
        group = list(group)
        need = limit - len(taken)
        if len(group) > need:
            spared = ()
            if sum(c[0].job.id % workers == place for c in group) < need:
                spared = _nextOf(group, limit * NEXT_CLAIMS, workers, busy())
            group.sort(key=lambda c: _preference(
                c[0].job.id, place, workers) + 3 * (c[0].job.id in spared))
        taken += group[:need]
        if len(taken) == limit:
            break
    return sorted(taken, key=lambda c: c[0].key)


def _preference(jobid: int, place: int, workers: int) -> int:
    """0 if the job falls to the worker at `place`; else 1 if this worker
    is the one of the others that takes it first (so that two workers
    whose own jobs ran out take different ones), or 2."""
    owner = jobid % workers
    if owner == place:
        return 0
    helper = jobid // workers % (workers - 1)
    return 1 if helper + (helper >= owner) == place else 2


def _nextOf(group: list, limit: int, workers: int, places) -> set:
    """The ids of the first `limit` jobs of `group` that fall to each of
    the workers at `places`: those they take next."""
    counts, found = dict.fromkeys(places, 0), set()
    for waiting, _ in group:
        owner = waiting.job.id % workers
        if counts.get(owner, limit) < limit:
            counts[owner] += 1
            found.add(waiting.job.id)
    return found


def _busyPlaces(store) -> Set[int]:
    """The places of the workers whose jobs in hand changed (a claim, an
    outcome) within `BUSY` seconds of the newest commit seen here."""
    newest = tidTime(store.intake._p_serial)
    found = set()
    for place, workerId in enumerate(sorted(store.workers.keys())):
        held = store.workers[workerId].held
        held._p_activate()
        if newest - tidTime(held._p_serial) < BUSY:
            found.add(place)
    return found


def _missed(store, waiting, now: float) -> None:
    """Cancel a job whose deadline passed before it could start."""
    if waiting.segment is not None:
        waiting.chain.take(waiting.segment, waiting.value)
    scheduling.missDeadline(store, waiting.job, now)


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
    for job in freshQueued(store):
        if first is None or job._stamp < first[0]:
            first = (job._stamp, job)
    return first
