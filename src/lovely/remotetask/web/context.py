"""What a handler is given: the request, its connection and transaction,
and who sent it, with the look-ups every handler makes (a service by its
path, a job by its id) answering 404 or 409 for what is not there, and
403 for what the identity may not see there."""
from typing import Optional

from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import ICronJob
from lovely.remotetask.hosts.locate import (
    applicationRoot, findService, listServices)
from lovely.remotetask.web import auth
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.parsing import parseJobId, shown


class Context:
    """What a handler works with: the request, the database, the identity."""

    def __init__(self, app, request, connection, tm, identity,
                 route=None) -> None:
        self.app = app
        self.request = request
        self.connection = connection
        self.tm = tm
        self.identity = identity
        self.route = route
        #: The service the request is about, once looked up.
        self.entry = None

    @property
    def root(self):
        """Where service paths start (see `locate.applicationRoot`)."""
        return applicationRoot(self.connection, self.app.rootKey)

    def service(self, path: str):
        """The `ServiceEntry` at `path`, or HTTPError 404; HTTPError 403
        when the identity lacks the route's right on it."""
        try:
            entry = findService(self.root, path)
        except InvalidArgumentError:   # a malformed path names nothing
            entry = None
        if entry is None:
            raise HTTPError(404, f'no task service {shown(path)}')
        self.entry = entry
        if self.route is not None and self.route.right is not None:
            self.require(self.route.right)
        return entry

    def services(self) -> list:
        """The services the identity may see."""
        return [entry for entry in listServices(self.root)
                if self.identity.may(auth.READ, entry)]

    def job(self, entry, text: str):
        """The job of a service whose id is `text`, or HTTPError 400/404;
        403 for a job of another owner to one who sees only theirs."""
        jobid = parseJobId(text)
        job = entry.service.jobs.get(jobid)
        if job is None:
            raise HTTPError(404, f'no job with id {jobid} in service '
                            f'{entry.path!r}')
        self.checkOwner(entry, job)
        return job

    def checkOwner(self, entry, job) -> None:
        owner = self.ownerFilter(entry)
        if owner is not None and job.owner != owner:
            raise HTTPError(403, f'job {job.id} was added by someone else; '
                            f'you may see only the jobs you added')

    def ownerFilter(self, entry) -> Optional[str]:
        """The owner whose jobs alone the identity sees, or None."""
        return None if self.identity is None else \
            self.identity.ownerFilter(entry)

    def cronJob(self, entry, text: str):
        """Like `job`, and HTTPError 409 for a job that is no cron job."""
        found = self.job(entry, text)
        if not ICronJob.providedBy(found):
            raise HTTPError(409, f'job {found.id} is not a cron job')
        return found

    def allows(self, right: str, entry=None) -> bool:
        """Whether the identity has `right` on the service of `entry` (by
        default the one the request is about)."""
        return self.identity is not None and self.identity.may(
            right, entry or self.entry)

    def require(self, right: str) -> None:
        if self.allows(right):
            return
        if self.identity is not None and self.identity.user is not None:
            raise HTTPError(403, f'{self.identity.user} may not do this on '
                            f'{self.entry.path if self.entry else "this"}: '
                            f'it needs the {right} right')
        raise HTTPError(403, f'this needs the {auth.tokenRight(right)} '
                        f'right')

    @property
    def csrfToken(self) -> Optional[str]:
        return self.app.authenticator.csrfToken(self.identity)

    def url(self, path: str) -> str:
        """An absolute path below where the application is mounted."""
        return self.request.script_name + path

    def commitBatch(self) -> None:
        """Commit what was done so far and go on in a new transaction.

        For the few operations that work in batches (cancel all): each
        batch that committed stays done, even if a later one fails.
        """
        self.tm.commit()
        self.tm.begin()
