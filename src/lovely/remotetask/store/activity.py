"""How many jobs finished in each of the last minutes, for the charts.

The current minute is counted in the intake, which every record writes
anyway; when a job finishes in a new minute, the minute before goes to
the `ActivityLog`, which is so written once a minute at most.
"""
from typing import Dict, List, Tuple

from lovely.remotetask.interfaces import FINISHED
from lovely.remotetask.store.versioning import Versioned

#: Minutes of finished jobs kept for the charts.
ACTIVITY_MINUTES = 60


class ActivityLog(Versioned):
    """minute (epoch seconds // 60) -> counts in FINISHED's order, for the
    last ACTIVITY_MINUTES minutes but the current one."""

    def __init__(self) -> None:
        self.minutes = {}

    def _p_resolveConflict(self, old, committed, new):
        # Two writers that both closed the same minute wrote what each saw
        # of its counts, which only grow within a minute: the larger of
        # each is the nearer (a cancel must not fail on a chart).
        minutes = {}
        for side in (committed['minutes'], new['minutes']):
            for minute, counts in side.items():
                seen = minutes.get(minute)
                minutes[minute] = counts if seen is None else tuple(
                    max(pair) for pair in zip(seen, counts))
        for minute in old['minutes']:
            if minute not in committed['minutes'] or \
                    minute not in new['minutes']:
                minutes.pop(minute, None)     # dropped as too old
        return dict(new, minutes=minutes)

    def add(self, minute: tuple, now: int) -> None:
        minutes = {m: counts for m, counts in self.minutes.items()
                   if m > now - ACTIVITY_MINUTES}
        if minute[0] > now - ACTIVITY_MINUTES:
            minutes[minute[0]] = minute[1:]
        self.minutes = minutes


def activity(log: ActivityLog, current: tuple, now: float,
             minutes: int) -> List[Tuple[int, Dict[str, int]]]:
    """[(minute start, {status: count})] of the last `minutes` minutes,
    oldest first, from the log and the `current` minute's counts."""
    last = int(now // 60)
    found = dict(log.minutes)
    if current:
        found[current[0]] = current[1:]
    return [(minute * 60, {status: count for status, count in zip(
        FINISHED, found.get(minute, ())) if count})
        for minute in range(last - minutes + 1, last + 1)]
