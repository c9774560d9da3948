"""The detail of a job in the dashboard (its cell in the jobs table, and
its part of the job's page), which a task can customise.

As the 2009 package looked up a view named ``<task>_detail`` and then
``detail``, the dashboard looks up a renderer (a named ``IJobDetail``
utility) under the same two names, and falls back to `defaultDetail`::

    @provideDetail(task='resize')
    def resizeDetail(job, service):
        return f'{job.input["width"]} x {job.input["height"]}'

A renderer returns text, which is escaped, or an `HTML` string, which is
shown as it is (the renderer escapes what it puts in it).  A renderer that
raises shows as a short note instead of breaking the page.
"""
import html
import json
import logging
from typing import Callable, Optional

import zope.component
from zope.interface import Interface, implementer

from lovely.remotetask.interfaces import ICronJob
from lovely.remotetask.serialize import (
    scheduleText, scheduleZone, zonedTime)

log = logging.getLogger('lovely.remotetask.web')

#: How much of an input or result the default cell shows.
SUMMARY_LENGTH = 80


class IJobDetail(Interface):
    """Renders what the dashboard shows about a job in its detail cell."""

    def __call__(job, service):
        """Return text (escaped when shown) or an `HTML` string."""


class HTML(str):
    """Markup that is shown as it is: the renderer vouches for it."""

    def __html__(self):
        return self


@implementer(IJobDetail)
class _Renderer:
    def __init__(self, func: Callable) -> None:
        self.func = func

    def __call__(self, job, service):
        return self.func(job, service)


def provideDetail(func: Optional[Callable] = None, *,
                  task: Optional[str] = None):
    """Register `func(job, service)` as the detail renderer of `task`'s jobs
    (``<task>_detail``), or of every job without a renderer of its own
    (``detail``); as a call or a decorator."""
    def register(func):
        name = 'detail' if task is None else f'{task}_detail'
        zope.component.provideUtility(_Renderer(func), IJobDetail, name=name)
        return func

    return register if func is None else register(func)


def renderDetail(job, service) -> str:
    """The detail cell of `job` as HTML."""
    renderer = (zope.component.queryUtility(IJobDetail, f'{job.task}_detail')
                or zope.component.queryUtility(IJobDetail, 'detail')
                or defaultDetail)
    try:
        value = renderer(job, service)
    except Exception as error:
        log.exception('the detail renderer of job %s failed', job.id)
        return html.escape(f'(no detail: the renderer failed with '
                           f'{type(error).__name__})')
    if hasattr(value, '__html__'):
        return value.__html__()
    return html.escape('' if value is None else str(value))


def defaultDetail(job, service) -> str:
    """The error, the result, or the input; and a cron job's schedule."""
    parts = []
    if ICronJob.providedBy(job):
        parts.append(scheduleText(job))
        if job.nextRun is not None:
            parts.append(f'next {zonedTime(job.nextRun, scheduleZone(job))}')
    if job.error:
        parts.append(f'error: {job.error}')
    elif job.output is not None:
        parts.append(f'result: {summary(job.output)}')
    elif job.input is not None:
        parts.append(f'input: {summary(job.input)}')
    return '; '.join(parts)


def summary(value) -> str:
    try:
        text = json.dumps(value, default=repr, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > SUMMARY_LENGTH:
        text = text[:SUMMARY_LENGTH - 1] + '\u2026'
    return text
