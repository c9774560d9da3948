"""Waitress, set up so that slow or hostile clients do not shut others out.

Waitress reads a request whole before a thread runs it: a client that
connects and says nothing, or sends half a request (slowloris), holds a
socket, not a thread.  What shuts others out is the limit on open
connections (waitress's default is 100; past it waitress stops accepting)
and how long silent connections may stay (120 s by default).  Here the
limit is high, silent connections are closed sooner, the event loop uses
poll() (select() cannot watch more than 1024 sockets), and the process may
open enough files for it.
"""
from typing import Optional

from lovely.remotetask.web import settings

#: Request bodies pending past this many bytes wait in a temporary file,
#: so that many half-sent bodies cost disk, not memory.
INBUF_OVERFLOW = 64 * 1024

#: Files the process needs besides its connections: the database, logs,
#: the listening socket, the event loop's trigger...
SPARE_FILES = 64


class ServerError(Exception):
    """The server cannot be made as asked; the message says why."""


def createServer(app, *, host: str = settings.HOST,
                 port: int = settings.PORT,
                 threads: int = settings.THREADS,
                 connectionLimit: int = settings.CONNECTION_LIMIT,
                 channelTimeout: int = settings.CHANNEL_TIMEOUT,
                 maxBodySize: int = settings.MAX_BODY_SIZE,
                 maxHeaderSize: int = settings.MAX_HEADER_SIZE,
                 backlog: int = settings.BACKLOG,
                 urlPrefix: str = ''):
    """A waitress server of `app` on `host`:`port` (0: a free port), not
    yet running: call its ``run()``.

    Raises `ServerError` when the process may not open enough files for
    `connectionLimit`, and OSError when it cannot listen.
    """
    import waitress
    _raiseFileLimit(connectionLimit)
    return waitress.create_server(
        app, host=host, port=port, threads=threads,
        connection_limit=connectionLimit, channel_timeout=channelTimeout,
        # Silent connections are looked for this often: a fraction of the
        # timeout, so that they go soon after it.
        cleanup_interval=max(1, min(30, channelTimeout // 3)),
        max_request_body_size=maxBodySize,
        max_request_header_size=maxHeaderSize,
        inbuf_overflow=INBUF_OVERFLOW, backlog=backlog,
        asyncore_use_poll=True, url_prefix=urlPrefix, ident='remotetask')


def _raiseFileLimit(connections: int) -> Optional[int]:
    """Let the process open files for `connections` connections (each may
    hold a second one for a body in a temporary file), up to the hard
    limit; return the limit now in force (None where there is none)."""
    try:
        import resource
    except ImportError:   # Windows: no such limit to raise
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * connections + SPARE_FILES
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):   # past what the kernel allows
            pass
    needed = connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise ServerError(
            f'{connections} connections need {needed} open files, and the '
            f'limit is {soft} (ulimit -n): lower the connection limit or '
            f'raise the limit')
    return soft


# The command line's checks of these options (argparse types).

def count(text: str) -> int:
    """An int of at least 1."""
    return _intIn(text, 1, None)


def portNumber(text: str) -> int:
    """A TCP port, 0 for a free one."""
    return _intIn(text, 0, 65535)


def _intIn(text, low, high):
    import argparse
    try:
        value = int(text) if len(text) <= settings.MAX_NUMBER_LENGTH \
            else None
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        within = f'from {low} to {high}' if high is not None \
            else f'of at least {low}'
        raise argparse.ArgumentTypeError(
            f'must be an int {within}, not {text[:40]!r}')
    return value
