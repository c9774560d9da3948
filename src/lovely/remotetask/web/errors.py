"""The error every part of the Web service raises for an answer other than
success; each part renders it its own way (JSON, XML-RPC, HTML)."""


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
