"""Opening a database from a URI, with the storages ZODB already has.

``file:///path/Data.fs`` (FileStorage, one file, no server), ``memory://``
(MappingStorage), ``zeo://host:port`` (a ZEO client, for several processes
or machines) and, with RelStorage installed, ``postgres://user@host/db``.
The URIs are `zodburi`'s; any scheme it knows works, ``zconfig://`` too.
"""
import urllib.parse

import zodburi
from ZODB import DB

from lovely.remotetask.exceptions import RemoteTaskError

#: Seconds to wait for a ZEO server when the URI does not say.
CONNECT_TIMEOUT = 30


class DatabaseError(RemoteTaskError):
    """A database URI that is malformed or names a database out of reach."""


def openDatabase(uri: str, connectTimeout: float = CONNECT_TIMEOUT) -> DB:
    """Open the database that `uri` names.

    A ZEO client waits `connectTimeout` seconds for its server (unless the
    URI sets ``wait_timeout``) instead of for ever.
    """
    try:
        factory, dbArgs = zodburi.resolve_uri(
            _withConnectTimeout(uri, connectTimeout))
    except Exception as error:
        raise DatabaseError(
            f'cannot use database URI {uri!r}: {_reason(error)}') from error
    try:
        storage = factory()
    except Exception as error:
        raise DatabaseError(
            f'cannot open database {uri!r}: {_reason(error)}') from error
    return DB(storage, **dbArgs)


def _withConnectTimeout(uri, timeout):
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != 'zeo':
        return uri
    query = urllib.parse.parse_qs(parts.query)
    if 'wait_timeout' in query:
        return uri
    query = parts.query + ('&' if parts.query else '') + \
        f'wait_timeout={int(timeout)}'
    return urllib.parse.urlunsplit(parts._replace(query=query))


def _reason(error) -> str:
    return f'{type(error).__name__}: {error}' if str(error) \
        else type(error).__name__
