"""Workflows: steps that wait for other steps, added together.

A `Workflow` is built in memory, step by step, each step named and
waiting for others by name; `TaskService.addWorkflow` adds all its steps
in the caller's transaction (all or none).  A step runs once every step it
waits for completed; what happens when one fails is its ``onFailure``
(see `store.dependencies`).  A running step reads the results of the
steps it waited for (`results`) and may add steps to its own workflow
(`addStep`), which join the same graph.
"""
import graphlib
from typing import Dict, List, Optional

from lovely.remotetask.exceptions import InvalidArgumentError, JobStateError
from lovely.remotetask.interfaces import (
    CANCELLED, COMPLETED, ERROR, FINISHED, PROCESSING, WAITING)
from lovely.remotetask.runtime import context
from lovely.remotetask.store import dependencies
from lovely.remotetask.store.dependencies import CANCEL, checkPolicy
from lovely.remotetask.store.search import checkTags
from lovely.remotetask.store.workflowrecords import WorkflowRecord


class Workflow:
    """The steps of a workflow, before it is added: named, each waiting for
    the steps named in its `after`."""

    def __init__(self, name: Optional[str] = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise InvalidArgumentError(
                f'a workflow name is a non-empty string, not {name!r}')
        self.name = name
        self.steps: Dict[str, dict] = {}

    def add(self, name: str, task: str, input=None, *, after=(),
            **options) -> str:
        """Add the step `name`, which runs `task` with `input` once the
        steps of `after` (names) completed; `options` are those of
        `TaskService.add` (``priority``, ``queue``, ``onFailure``,
        ``tags``...).
        Return `name`, to name in the `after` of later steps."""
        checkStepName(name)
        if name in self.steps:
            raise InvalidArgumentError(f'the workflow has a step {name!r}')
        after = _names(after)
        if 'after' in options or 'startLater' in options:
            raise InvalidArgumentError(
                'a step waits for the steps of its workflow: give their '
                'names in after=')
        self.steps[name] = dict(task=task, input=input, after=after,
                                options=options)
        return name

    def chain(self, *steps) -> List[str]:
        """Add steps that run one after the other: each ``(name, task,
        input)`` waits for the one before."""
        names, before = [], ()
        for name, task, input in steps:
            names.append(self.add(name, task, input, after=before))
            before = (name,)
        return names

    def order(self) -> List[str]:
        """The step names, each after the steps it waits for; a clear
        error for a step that waits for an unknown one, or a cycle."""
        graph = {}
        for name, step in self.steps.items():
            for other in step['after']:
                if other not in self.steps:
                    raise InvalidArgumentError(
                        f'step {name!r} waits for {other!r}, which the '
                        f'workflow has no step of')
            graph[name] = step['after']
        try:
            return list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as error:
            cycle = ' -> '.join(repr(name) for name in error.args[1])
            raise InvalidArgumentError(
                f'the steps wait for each other in a cycle: {cycle}'
            ) from None


def checkStepName(name) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(
            f'a step is named by a non-empty string, not {name!r}')
    return name


def _names(after) -> tuple:
    if isinstance(after, str):
        after = (after,)
    after = tuple(after)
    for name in after:
        checkStepName(name)
    return after


class Workflows:
    """The workflows part of `TaskService`."""

    def addWorkflow(self, workflow: Workflow) -> Dict[str, int]:
        """Add every step of `workflow` (all or none: a step that cannot be
        added raises before any is); return the job id of each step, by
        name.  The workflow's id is the id of its first step."""
        if not workflow.steps:
            raise InvalidArgumentError('the workflow has no steps')
        order = workflow.order()
        for name in order:
            step = workflow.steps[name]
            self._checkStep(step['task'], step['input'], step['options'])
        record = WorkflowRecord(workflow.name)
        ids = {}
        for name in order:
            step = workflow.steps[name]
            ids[name] = self._addStep(record, name, step['task'],
                                      step['input'], step['after'],
                                      **step['options'])
        return ids

    def _checkStep(self, task, input, options) -> None:
        """Refuse a step before any of its workflow is added."""
        self._checkTask(task, input)
        checkPolicy(options.get('onFailure', CANCEL))
        unknown = set(options) - {'priority', 'queue', 'onFailure', 'key',
                                  'deadline', 'tags'}
        checkTags(options.get('tags'))
        if unknown:
            raise InvalidArgumentError(
                f'a step takes no {", ".join(sorted(unknown))}')

    def _addStep(self, record, name, task, input, after, **options) -> int:
        unknown = [other for other in after if other not in record.steps]
        if unknown:
            raise InvalidArgumentError(
                f'step {name!r} waits for {unknown[0]!r}, which the '
                f'workflow has no step of')
        jobid = self._add(task, input,
                          after=[record.steps[other] for other in after],
                          workflow=record, **options)
        if record.id is None:
            record.id = jobid
        record.addStep(name, jobid)
        return jobid

    def addStep(self, jobid: int, name: str, task: str, input=None, *,
                after=(), before=(), **options) -> int:
        """Add the step `name` to the workflow of job `jobid` (a running
        step adds to its own): it waits for the steps of `after`, and the
        waiting steps of `before` wait for it too (fan-out decided at run
        time, fanned in again).  Return its job id."""
        record = self._workflowOf(jobid)
        checkStepName(name)
        if name in record.steps:
            raise InvalidArgumentError(
                f'the workflow has a step {name!r}')
        self._checkStep(task, input, options)
        after, before = _names(after), _names(before)
        waiting = []
        for other in before:
            step = self._stepNamed(record, other)
            if step.status != WAITING:
                raise JobStateError(
                    f'step {other!r} is {step.status}: only a waiting step '
                    f'can wait for one more')
            afterIds = [self._stepNamed(record, one).id for one in after]
            if step.id in afterIds or dependencies.dependencyCycle(
                    self._store, step.id, afterIds):
                raise InvalidArgumentError(
                    f'step {name!r} would wait for {other!r}, which would '
                    f'wait for it: a cycle')
            waiting.append(step)
        newId = self._addStep(record, name, task, input, after, **options)
        job = self._store.job(newId)
        for step in waiting:
            step._barrier.reopen(newId)
            step._waitsFor = step.waitsFor + (newId,)
            dependencies.addDependent(job, step.id)
        return newId

    def getWorkflow(self, jobid: int) -> dict:
        """The workflow of job `jobid` (any of its steps): its id, name,
        status (running, completed, failed or cancelled), counts by status,
        and its steps (name, id, task, status, the names of the steps each
        waits for, error)."""
        record = self._workflowOf(jobid)
        names = {stepId: name for name, stepId in record.steps.items()}
        steps, counts = [], {}
        for name, stepId in record.steps.items():
            job = self._store.get(stepId)
            status = 'removed' if job is None else job.status
            counts[status] = counts.get(status, 0) + 1
            steps.append(dict(
                name=name, id=stepId, status=status,
                task=None if job is None else job.task,
                after=[] if job is None else
                [names.get(one, one) for one in job.waitsFor],
                error=None if job is None else job.error))
        return dict(id=record.id, name=record.name, status=_overall(counts),
                    counts=counts, steps=steps)

    def cancelWorkflow(self, jobid: int) -> List[int]:
        """Cancel every step of the workflow of `jobid` that has not
        finished (running ones are asked to stop); return their ids."""
        record = self._workflowOf(jobid)
        cancelled = []
        for stepId in sorted(record.steps.values()):
            job = self._store.get(stepId)
            if job is not None and job.status not in FINISHED:
                self.cancel(stepId)
                cancelled.append(stepId)
        return cancelled

    def retryWorkflow(self, jobid: int) -> List[int]:
        """Retry the failed steps of the workflow of `jobid`, and those
        cancelled by hand; the steps their failure cancelled wait again.
        Return the ids retried."""
        record = self._workflowOf(jobid)
        retried = []
        for stepId in sorted(record.steps.values()):
            job = self._store.get(stepId)
            if job is not None and (job.status == ERROR or (
                    job.status == CANCELLED and job._cancelledBy is None)):
                self.retry(stepId)
                retried.append(stepId)
        return retried

    def getDependencyResults(self, jobid: int) -> dict:
        """The results of the jobs `jobid` waited for that completed: by
        step name in a workflow, else by job id."""
        job = self._store.job(jobid)
        names = {} if job.workflow is None else {
            stepId: name for name, stepId in job.workflow.steps.items()}
        found = {}
        for one in job.waitsFor:
            dependency = self._store.get(one)
            if dependency is not None and dependency.status == COMPLETED:
                found[names.get(one, one)] = dependency.output
        return found

    def _workflowOf(self, jobid: int) -> WorkflowRecord:
        job = self._store.job(jobid)
        if job.workflow is None:
            raise InvalidArgumentError(f'job {jobid} is in no workflow')
        return job.workflow

    def _stepNamed(self, record, name: str):
        stepId = record.steps.get(name)
        job = None if stepId is None else self._store.get(stepId)
        if job is None:
            raise InvalidArgumentError(
                f'the workflow has no step {name!r}')
        return job


def _overall(counts: dict) -> str:
    if counts.get(ERROR):
        return 'failed'
    if set(counts) <= {COMPLETED}:
        return COMPLETED
    if set(counts) <= set(FINISHED) and counts.get(CANCELLED):
        return CANCELLED
    return 'running' if counts.get(PROCESSING) else 'waiting'


# For the running step

def results() -> dict:
    """The results of the jobs the running job waited for (see
    `Workflows.getDependencyResults`)."""
    job = _running()
    return job.service.getDependencyResults(job.jobid)


def addStep(name: str, task: str, input=None, *, after=(), before=(),
            **options) -> int:
    """Add a step to the workflow of the running job (see
    `Workflows.addStep`): it commits with the job's outcome."""
    job = _running()
    return job.service.addStep(job.jobid, name, task, input, after=after,
                               before=before, **options)


def _running():
    found = context.current()
    if found is None:
        raise JobStateError('no job runs in this thread')
    return found
