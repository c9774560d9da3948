"""Channels: where a job of each status is kept, by name.

A channel is a tuple that names a chain of the store: the status first,
then, for queued jobs, what claims choose by (queue, task, priority,
partition).
Statuses are only names here: a new status is a new channel, and costs
no migration of what is stored.
"""
from typing import Optional

from lovely.remotetask.interfaces import PROCESSING, QUEUED, SCHEDULED

#: The status of a job that was removed; no listing or count shows it.
REMOVED = 'removed'
#: The channel of jobs that wait for a time: they are filed in the
#: schedule, not in a chain.
SCHEDULE = ('schedule',)
#: Sorts after every name of a channel (see `Store.chainsOf`).
LAST = chr(0x10FFFF) * 4


def channelOf(job) -> Optional[tuple]:
    """The channel of a job as it is now: None for a job held by a worker
    (its place is the worker's record), SCHEDULE for one that waits for a
    time."""
    status = job.status
    if status == QUEUED:
        return (QUEUED, job.queue, job.task, job.priority, job.partition)
    if status in SCHEDULED:
        return SCHEDULE
    if status == PROCESSING:
        return None if job.worker is not None else (PROCESSING,)
    return (status,)
