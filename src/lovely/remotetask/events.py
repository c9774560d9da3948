"""Events of a job's life, sent with `zope.event` once they are committed.

A host subscribes to react: ``zope.component.provideHandler(handler,
[IJobCompleted])``.  Events are sent after the transaction that made them
commits, in the order they happened, and not at all when it aborts: a
claim that conflicted and was tried again sends one `JobStarted`, not two.
"""
import zope.component
import zope.event
from zope.interface import Attribute, Interface, implementer, providedBy

from lovely.remotetask.commits import pendingOnCommit


class IJobEvent(Interface):
    """Something happened to a job."""

    service = Attribute('The task service, as the committing connection '
                        'saw it; use it only for the job id, or reopen it.')
    jobid = Attribute('The id of the job.')


class IJobAdded(IJobEvent):
    """A job was added."""


class IJobStarted(IJobEvent):
    """A job was claimed and its task is about to run."""


class IJobCompleted(IJobEvent):
    """A job's task returned (for a cron job: one run did)."""


class IJobFailed(IJobEvent):
    """A job failed for good (for a cron job: one run did)."""


class IJobRetried(IJobEvent):
    """An attempt failed and the job will be tried again."""


class IJobCancelled(IJobEvent):
    """A job was cancelled."""


@implementer(IJobEvent)
class JobEvent:

    def __init__(self, service, jobid: int) -> None:
        self.service = service
        self.jobid = jobid

    def __repr__(self):
        return f'<{type(self).__name__} job {self.jobid}>'


@implementer(IJobAdded)
class JobAdded(JobEvent):
    pass


@implementer(IJobStarted)
class JobStarted(JobEvent):
    pass


@implementer(IJobCompleted)
class JobCompleted(JobEvent):
    pass


@implementer(IJobFailed)
class JobFailed(JobEvent):
    pass


@implementer(IJobRetried)
class JobRetried(JobEvent):
    pass


@implementer(IJobCancelled)
class JobCancelled(JobEvent):
    pass


def _listened(event) -> bool:
    """Whether anyone listens for `event`: a subscriber of zope.event, or,
    when zope.component's dispatch is the only one, a handler in the
    component registry of the site in use."""
    subscribers = zope.event.subscribers
    if not subscribers:
        return False
    if not all(_isComponentDispatch(subscriber)
               for subscriber in subscribers):
        return True
    registry = zope.component.getSiteManager().adapters
    return bool(registry.subscriptions((providedBy(event),), None))


def _isComponentDispatch(subscriber) -> bool:
    # zope.component.event.dispatch, which importing that module installs.
    return getattr(subscriber, '__module__', None) == 'zope.component.event' \
        and getattr(subscriber, '__name__', None) == 'dispatch'


class _Pending(list):
    """The events of one transaction, sent once it commits."""

    def send(self) -> None:
        for event in self:
            zope.event.notify(event)


def notifyOnCommit(service, event: JobEvent) -> None:
    """Send `event` once the transaction that `service` is changed in
    commits (the thread's transaction, for a service not stored yet)."""
    if not _listened(event):
        return   # nobody listens: spare the bookkeeping

    def pending():
        events = _Pending()
        return events, events.send
    pendingOnCommit(service, _Pending, pending).append(event)
