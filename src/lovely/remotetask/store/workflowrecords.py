"""What ties the steps of a workflow, or the jobs of a batch, together.

The record is referenced from each of its jobs and indexed nowhere else:
a workflow is found from any of its steps, and adding one writes no
shared index that concurrent adds would conflict on.
"""
from typing import Optional

from ZODB.POSException import ConflictError

from lovely.remotetask.store.versioning import Versioned


class WorkflowRecord(Versioned):
    """A workflow: its name, and its steps by name (steps added while it
    runs join it)."""

    #: The id of the first step: the workflow's id.
    id = None

    def __init__(self, name: Optional[str] = None) -> None:
        if name is not None:
            self.name = name
        self.steps = {}

    name = None

    def addStep(self, name: str, jobid: int) -> None:
        self.steps = dict(self.steps, **{name: jobid})

    def _p_resolveConflict(self, old, committed, new):
        steps = dict(committed['steps'])
        for name, jobid in new['steps'].items():
            if steps.setdefault(name, jobid) != jobid:
                raise ConflictError(f'two steps named {name!r} at once')
        return dict(new, steps=steps)


class BatchRecord(Versioned):
    """A batch: its callbacks by kind (``complete``, ``success``,
    ``death``), and the batch it is part of."""

    parent = None
    #: Whether jobs may still be added (`closeBatch` closes it).
    open = True
    #: How many jobs were added to it.
    size = 0

    def __init__(self, parent: Optional['BatchRecord'] = None) -> None:
        self.callbacks = {}
        if parent is not None:
            self.parent = parent

    def _p_resolveConflict(self, old, committed, new):
        # Adds merge (they count); an add and the close conflict, so that
        # no job joins a batch whose callbacks were released.
        if committed.get('open', True) != new.get('open', True) or \
                committed.get('callbacks') != new.get('callbacks'):
            raise ConflictError('a batch closed while jobs were added')
        o, c, n = (side.get('size', 0) for side in (old, committed, new))
        return dict(new, size=c + n - o)

    @property
    def id(self) -> int:
        """Its id: the id of its first callback."""
        return min(self.callbacks.values())

    def lineage(self):
        """This batch, its parent, and so on up."""
        batch = self
        while batch is not None:
            yield batch
            batch = batch.parent
