"""Limits: how many jobs of a scope may run at once across all processes,
and how many may start in a period.

A scope is a queue, a task, or a task's partition (the jobs whose input
has the same value at the task's partition key: an account, a tenant).
Each limited scope has a `Limit` in the store: the jobs of its scope that
run now (concurrency), or the times the last ones started (rate).  A
claim counts what it starts in the limits of the job's scopes, and the
job's end (or its return to the queue) counts it out.

Two workers that both see 4 of 5 slots taken must not both start a job:
their claims both write the limit, and its conflict resolution adds the
two counts up and refuses the second claim only when together they pass
the limit.  Claims of jobs without limits never touch a limit, so the
limits of some tasks neither slow nor fail the claims of others.

`rules(queue, task, partition)`, given by the service, says which limits
apply: (scope, maximum running or None, (count, seconds) or None).
"""
import bisect
from typing import Iterable, Optional, Tuple

from ZODB.POSException import ConflictError

from lovely.remotetask.store.merge import mergeValue
from lovely.remotetask.store.versioning import Versioned

Rule = Tuple[tuple, Optional[int], Optional[Tuple[int, float]]]


class Limit(Versioned):

    #: At most this many of the scope's jobs run at once; None: any.
    maximum = None
    #: The scope's jobs that run now.
    running = 0
    #: (count, seconds): at most `count` starts in any `seconds`; or None.
    rate = None
    #: (time, job id) of the starts of the last `seconds`, oldest first.
    starts = ()

    def __init__(self, scope: tuple) -> None:
        self.scope = scope

    def _p_resolveConflict(self, old, committed, new):
        o, c, n = (side.get('running', 0) for side in (old, committed, new))
        maximum = mergeValue(old.get('maximum'), committed.get('maximum'),
                             new.get('maximum'), 'the limit')
        running = c + n - o
        if maximum is not None and running > maximum and c > o and n > o:
            raise ConflictError('two claims that together pass a limit')
        rate = mergeValue(old.get('rate'), committed.get('rate'),
                          new.get('rate'), 'the rate')
        starts = _mergeStarts(old.get('starts', ()),
                              committed.get('starts', ()),
                              new.get('starts', ()), rate)
        merged = dict(new, maximum=maximum, running=running, rate=rate,
                      starts=starts)
        for name, default in (('maximum', None), ('running', 0),
                              ('rate', None), ('starts', ())):
            if merged[name] == default:
                del merged[name]
        return merged

    def started(self, jobid: int, now: float) -> None:
        self.running += 1
        if self.rate is not None:
            count, seconds = self.rate
            kept = tuple(start for start in self.starts
                         if start[0] > now - seconds)
            self.starts = kept + ((now, jobid),)

    def ended(self) -> None:
        if self.running > 0:
            self.running -= 1

    def configure(self, maximum: Optional[int], rate) -> None:
        """Take the rules in force (they live in code and settings, which
        change): written only when they did."""
        if self.maximum != maximum:
            self.maximum = maximum
        rate = tuple(rate) if rate is not None else None
        if self.rate != rate:
            self.rate = rate

    def __repr__(self):
        return f'<Limit {self.scope!r}>'


def _mergeStarts(old, committed, new, rate) -> tuple:
    """Starts both sides added are kept, starts either dropped (older than
    the period) are dropped; two sides whose starts together pass the rate
    in some period conflict."""
    old, committed, new = set(old), set(committed), set(new)
    addedC, addedN = committed - old, new - old
    merged = sorted((old & committed & new) | addedC | addedN)
    if rate is not None and addedC and addedN:
        count, seconds = rate
        times = [start[0] for start in merged]
        for index, time in enumerate(times):
            if bisect.bisect_right(times, time + seconds) - index > count:
                raise ConflictError('two claims that together pass a rate')
    return tuple(merged)


def roomOf(store, rules: Iterable[Rule], now: float,
           tallies: dict) -> Optional[int]:
    """How many jobs under `rules` may start at `now`, given what this
    claim started already (`tallies`: scope -> room left, filled here as
    the scopes are first looked at)."""
    rooms = []
    for scope, maximum, rate in rules:
        if scope not in tallies:
            tallies[scope] = _room(store.limits.get(scope), maximum, rate,
                                   now)
        if tallies[scope] is not None:
            rooms.append(tallies[scope])
    return min(rooms) if rooms else None


def _room(limit, maximum, rate, now) -> Optional[int]:
    """The room of `limit` (None: none stored yet) under the rules in force,
    which may differ from those it last recorded."""
    running = 0 if limit is None else limit.running
    starts = () if limit is None else limit.starts
    rooms = []
    if maximum is not None:
        rooms.append(max(0, maximum - running))
    if rate is not None:
        count, seconds = rate
        recent = sum(1 for start in starts if start[0] > now - seconds)
        rooms.append(max(0, count - recent))
    return min(rooms) if rooms else None


def opensAt(store, rules: Iterable[Rule], now: float) -> Optional[float]:
    """When the rates of `rules` allow a start again, if one allows none
    at `now`."""
    times = []
    for scope, _, rate in rules:
        limit = store.limits.get(scope)
        if rate is not None and limit is not None:
            when = _opens(limit.starts, rate, now)
            if when is not None:
                times.append(when)
    return max(times) if times else None


def _opens(starts, rate, now) -> Optional[float]:
    count, seconds = rate
    recent = [start for start in starts if start[0] > now - seconds]
    if len(recent) < count:
        return None
    return recent[-count][0] + seconds
