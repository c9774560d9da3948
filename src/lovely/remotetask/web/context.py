"""What a handler is given: the request, its connection and transaction,
and who sent it, with the look-ups every handler makes (a service by its
path, a job by its id) answering 404 or 409 for what is not there."""
from typing import Optional

from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask.interfaces import ICronJob
from lovely.remotetask.hosts.locate import applicationRoot, findService
from lovely.remotetask.web import auth
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.parsing import parseJobId, shown


class Context:
    """What a handler works with: the request, the database, the identity."""

    def __init__(self, app, request, connection, tm, identity) -> None:
        self.app = app
        self.request = request
        self.connection = connection
        self.tm = tm
        self.identity = identity

    @property
    def root(self):
        """Where service paths start (see `locate.applicationRoot`)."""
        return applicationRoot(self.connection, self.app.rootKey)

    def service(self, path: str):
        """The `ServiceEntry` at `path`, or HTTPError 404."""
        try:
            entry = findService(self.root, path)
        except InvalidArgumentError:   # a malformed path names nothing
            entry = None
        if entry is None:
            raise HTTPError(404, f'no task service {shown(path)}')
        return entry

    def job(self, entry, text: str):
        """The job of a service whose id is `text`, or HTTPError 400/404."""
        jobid = parseJobId(text)
        job = entry.service.jobs.get(jobid)
        if job is None:
            raise HTTPError(404, f'no job with id {jobid} in service '
                            f'{entry.path!r}')
        return job

    def cronJob(self, entry, text: str):
        """Like `job`, and HTTPError 409 for a job that is no cron job."""
        found = self.job(entry, text)
        if not ICronJob.providedBy(found):
            raise HTTPError(409, f'job {found.id} is not a cron job')
        return found

    def allows(self, right: str) -> bool:
        return self.identity is not None and auth.allows(
            self.identity.right, right)

    def require(self, right: str) -> None:
        if not self.allows(right):
            raise HTTPError(403, f'this needs the {right} right')

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
