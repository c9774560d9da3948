"""The error every part of the Web service raises for an answer other than
success, and the status each error of the task service answers with.

Each part renders it its own way (an ``errorResponse`` each): `api` as
JSON, `xmlrpc` as plain text, `rendering` as an HTML page.
"""
from lovely.remotetask.exceptions import (
    JobStateError, RemoteTaskError, UnknownJobError)


class HTTPError(Exception):
    """A response other than success: a status, a message, maybe details.

    `fields` ties messages to the fields of the request they are about.
    """

    def __init__(self, status: int, message: str, *, fields=None,
                 headers=None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}


#: The status of each kind of error the service raises; the order matters,
#: the first that matches counts (UnknownJobError is a KeyError, the others
#: ValueErrors).
_STATUS_OF = ((UnknownJobError, 404), (JobStateError, 409),
              (RemoteTaskError, 400))


def httpError(error: RemoteTaskError) -> HTTPError:
    """The HTTP error for an error of the service."""
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return HTTPError(status, str(error))
    raise error
