"""Queues and limits: the part of `TaskService` that says what may run.

Jobs go to named queues (``default`` unless the task or `add` names
another); a worker serves the queues it is told to, all by default.  A
queue can be paused and resumed on its own, and given a limit of jobs
running at once across every process.  Tasks carry their own limits
(`SimpleTask`'s `concurrency`, `rate` and `partitionBy`).  What is stored
of them lives in the store (`store.limits`, `Store.queues`).
"""
import time
from typing import Callable, Optional

from lovely.remotetask import checks
from lovely.remotetask.interfaces import PROCESSING
from lovely.remotetask.runtime import processing
from lovely.remotetask.store import limits, listing
from lovely.remotetask.task import checkQueue

#: The queue of a job whose task and `add` name none.
DEFAULT_QUEUE = 'default'


class Queues:
    """The queues-and-limits part of `TaskService`."""

    def pauseQueue(self, name: str) -> None:
        """Let no processor, here or elsewhere, start a job of queue
        `name` until `resumeQueue`."""
        paused, limit = self._queue(name)
        if not paused:
            self._store.queues[name] = (True, limit)

    def resumeQueue(self, name: str) -> None:
        paused, limit = self._queue(name)
        if paused:
            self._store.queues[name] = (False, limit)
            processing.wakeAfterCommit(self)

    def setQueueLimit(self, name: str, limit: Optional[int]) -> None:
        """At most `limit` jobs of queue `name` run at once, across every
        process (None: no limit)."""
        if limit is not None:
            checks.whole('limit', limit, 0)
        paused, old = self._queue(name)
        if old != limit:
            self._store.queues[name] = (paused, limit)
            processing.wakeAfterCommit(self)

    def getQueues(self, most: int = 1000) -> list:
        """The queues that have jobs or settings: dicts of name, paused,
        limit, running (across every process), queued and, of those, held
        (by the queue's pause or limit, or by their tasks' limits), each
        counted up to `most`."""
        store = self._store
        running = {}
        for job in self._running():
            running[job.queue] = running.get(job.queue, 0) + 1
        queued, held = {}, {}
        for channel, count, holders in self._waiting(most):
            queue = channel[1]
            queued[queue] = min(most, queued.get(queue, 0) + count)
            if holders:
                held[queue] = min(most, held.get(queue, 0) + count)
        names = set(running) | set(queued) | set(store.queues.keys()) | \
            {DEFAULT_QUEUE}
        found = []
        for name in sorted(names):
            paused, limit = self._queue(name)
            found.append(dict(name=name, paused=paused, limit=limit,
                              running=running.get(name, 0),
                              queued=queued.get(name, 0),
                              held=held.get(name, 0)))
        return found

    def getLimits(self, most: int = 1000) -> list:
        """The limits in force that have held or run jobs: dicts of scope
        (('queue', name), ('task', name) or ('task', name, partition)),
        maximum (running at once, or None), rate ((count, seconds) or
        None), running, starts (within the rate's period) and held (queued
        jobs this limit keeps waiting now, counted up to `most`)."""
        now = time.time()
        held = {}
        for channel, count, holders in self._waiting(most, now):
            for scope in holders:
                held[scope] = min(most, held.get(scope, 0) + count)
        found = []
        for scope, limit in self._store.limits.items():
            if not limit.running and not limit.starts and scope not in held:
                continue
            seconds = limit.rate[1] if limit.rate is not None else 0
            found.append(dict(
                scope=scope, maximum=limit.maximum, rate=limit.rate,
                running=limit.running,
                starts=sum(1 for when, _ in limit.starts
                           if when > now - seconds),
                held=held.pop(scope, 0)))
        return found

    def getStranded(self, most: int = 1000) -> list:
        """Queued jobs that no worker running now takes (none serves their
        queue or has their task): dicts of queue, task and queued (counted
        up to `most`); empty while no worker runs at all (then every job
        waits, and the workers list says so)."""
        workers = list(self._store.workers.values())
        if not workers:
            return []
        stranded = {}
        for channel, count, _ in self._waiting(most):
            queue, task = channel[1], channel[2]
            if not any(record.takes(queue, task) for record in workers):
                key = (queue, task)
                stranded[key] = min(most, stranded.get(key, 0) + count)
        return [dict(queue=queue, task=task, queued=count)
                for (queue, task), count in sorted(stranded.items())]

    def _running(self):
        store = self._store
        for record in store.workers.values():
            for jobid in record.heldJobs():
                job = store.get(jobid)
                if job is not None and job.status == PROCESSING:
                    yield job

    def _waiting(self, most: int, now: Optional[float] = None):
        """(channel, queued, scopes that hold it back now) of each channel
        of queued jobs."""
        now = time.time() if now is None else now
        rules, tallies = self.limitRules(), {}
        for channel, count in listing.queuedByChannel(
                self._store, most).items():
            holders = [scope for scope, maximum, rate in rules(channel)
                       if limits.roomOf(self._store, [(scope, maximum, rate)],
                                        now, tallies) == 0]
            yield channel, count, holders

    def limitRules(self) -> Callable[[tuple], tuple]:
        """The rules of a channel of queued jobs, for the claim (see
        `store.limits`): a paused queue has no room, a queue's limit and
        its task's limits apply."""
        cache = {}

        def rules(channel):
            found = cache.get(channel)
            if found is None:
                _, queue, taskName, _, partition = channel
                found = []
                paused, limit = self._queue(queue)
                if paused:
                    found.append((('paused', queue), 0, None))
                elif limit is not None:
                    found.append((('queue', queue), limit, None))
                task = self.queryTask(taskName)
                concurrency = getattr(task, 'concurrency', None)
                rate = getattr(task, 'rate', None)
                if concurrency is not None or rate is not None:
                    scope = ('task', taskName)
                    if getattr(task, 'partitionBy', None) is not None:
                        scope += (partition,)
                    found.append((scope, concurrency, rate))
                found = cache[channel] = tuple(found)
            return found
        return rules

    def _queue(self, name: str):
        """(paused, limit) of queue `name`."""
        checkQueue(name)
        return self._store.queues.get(name, (False, None))
