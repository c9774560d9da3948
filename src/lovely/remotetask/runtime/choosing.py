"""Which jobs a processor takes: of the queues it serves, within their
local limits, of the tasks registered in its process, and of tasks with
time limits only while too few of them run on past their limits."""
import logging
from typing import Optional

import zope.component

from lovely.remotetask import checks
from lovely.remotetask.interfaces import ITask
from lovely.remotetask.task import checkQueue

log = logging.getLogger('lovely.remotetask')


class Choice:
    """What a processor called `name` takes (see `accepts`)."""

    def __init__(self, name: str, queues, abandoned, inHand: set) -> None:
        self.name = name
        self.queues = queues
        self.abandoned = abandoned
        #: The ids of the jobs the processor holds (its own set), and of
        #: each it claimed, (queue, task).
        self.inHand = inHand
        self._kindOf = {}
        #: The tasks whose jobs it leaves, not having them.
        self._left = set()

    def claimed(self, claims) -> None:
        """Note the jobs just claimed; forget those no longer in hand."""
        self._kindOf = {jobid: kind for jobid, kind in self._kindOf.items()
                        if jobid in self.inHand}
        self._kindOf.update((claim.jobid, (claim.queue, claim.taskName))
                            for claim in claims)

    def running(self, queue: Optional[str], taskName: Optional[str]) -> int:
        """How many jobs in hand are of `queue` (if given), or of
        `taskName`."""
        kinds = [self._kindOf.get(jobid) for jobid in self.inHand]
        index, name = (0, queue) if queue is not None else (1, taskName)
        return sum(1 for kind in kinds if kind and kind[index] == name)

    def accepts(self, queue: str, taskName: str) -> bool:
        """Whether to take jobs of `taskName` in `queue`: of the queues
        served, while fewer of a queue's (or task's) jobs than its local
        limit run here, of tasks registered in this process, and while
        `maxAbandoned` tasks run on past their time limits, only of those
        without a limit.  The others wait in the queue, for other workers
        or for room: the threads and connections of abandoned tasks stay
        bounded, and everything else goes on."""
        if self.queues is not None:
            if queue not in self.queues:
                return False
            local = self.queues[queue]
            if local is not None and self.running(queue, None) >= local:
                return False
        task = zope.component.queryUtility(ITask, name=taskName)
        local = getattr(task, 'localConcurrency', None)
        if local is not None and self.running(None, taskName) >= local:
            return False
        if task is None:
            if taskName not in self._left:
                self._left.add(taskName)
                log.warning('processor %s leaves the jobs of task %r, which '
                            'is not registered here, to workers that have '
                            'it', self.name, taskName)
            return False
        if getattr(task, 'timeLimit', None) is not None:
            return not self.abandoned.full()
        return True

    def limitsLocally(self) -> bool:
        """Whether some local limit applies (then claims take one job at a
        time: a handful would pass it)."""
        if self.queues is not None and any(
                local is not None for local in self.queues.values()):
            return True
        return any(getattr(task, 'localConcurrency', None) is not None
                   for _, task in zope.component.getUtilitiesFor(ITask))

    def serves(self) -> tuple:
        """(queues, tasks) it takes jobs of, for its worker record: the
        queues served (None: all) and the tasks registered here."""
        queues = None if self.queues is None else tuple(sorted(self.queues))
        tasks = tuple(sorted(
            name for name, _ in zope.component.getUtilitiesFor(ITask)))
        return queues, tasks


def checkQueues(queues):
    """The queues a processor serves: None (all), names, or names mapped
    to the most of each queue's jobs it runs at once (None: no limit)."""
    if queues is None:
        return None
    if isinstance(queues, str):
        queues = [queues]
    if not isinstance(queues, dict):
        queues = {name: None for name in queues}
    for name, local in queues.items():
        checkQueue(name)
        if local is not None:
            checks.whole(f'the local limit of queue {name!r}', local)
    return dict(queues)
