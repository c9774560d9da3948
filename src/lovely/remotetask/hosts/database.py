"""Opening a database from a URI, with the storages ZODB already has.

``file:///path/Data.fs`` or a plain path (FileStorage, one file, one
process), ``memory://`` (in memory, for tests), ``zeo://host:port`` (a ZEO
client, for several processes or machines) and, with RelStorage installed,
``postgres://user@host/db``.  The URIs are `zodburi`'s; any scheme it
knows works, ``zconfig://`` too.
"""
import os
import re
import shlex
import time
import urllib.parse
from importlib.metadata import entry_points
from typing import Optional

import zodburi
from ZODB import DB
from ZODB.ConflictResolution import ConflictResolvingStorage
from ZODB.FileStorage import FileStorage
from ZODB.MappingStorage import MappingStorage
from ZODB.POSException import ConflictError, ReadOnlyError

from lovely.remotetask.retrying import Backoff
from lovely.remotetask.runtime.zeooids import mendOids
from lovely.remotetask.exceptions import RemoteTaskError

#: Seconds to wait for a ZEO server when the URI does not say.
CONNECT_TIMEOUT = 30

#: The schemes RelStorage's resolvers serve, when it is installed.
RELSTORAGE_SCHEMES = ('postgres', 'mysql', 'oracle', 'sqlite')

#: The query option that opens each kind of storage read-only.
_READ_ONLY_OPTIONS = dict(file='read_only=1', zeo='read_only=1',
                          **{scheme: 'read_only=true'
                             for scheme in RELSTORAGE_SCHEMES})

_SCHEME = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')


class MemoryStorage(ConflictResolvingStorage, MappingStorage):
    """A storage in memory that resolves conflicts, as FileStorage, ZEO and
    RelStorage do (MappingStorage refuses every concurrent change of an
    object, so services under concurrent use would not work on it)."""

    def tpc_begin(self, transaction, tid=None):
        super().tpc_begin(transaction, tid)
        self._resolved = []

    def store(self, oid, serial, data, version, transaction):
        try:
            super().store(oid, serial, data, version, transaction)
        except ConflictError as error:
            committed = error.serials[0]
            data = self.tryToResolveConflict(oid, committed, serial, data)
            with self._lock:
                self._tdata[oid] = data
            self._resolved.append(oid)

    def tpc_vote(self, transaction):
        super().tpc_vote(transaction)
        return self._resolved


class DatabaseError(RemoteTaskError):
    """A database URI that is malformed or names a database out of reach."""


def openDatabase(uri: str, connectTimeout: float = CONNECT_TIMEOUT, *,
                 create: bool = True, readOnly: bool = False) -> DB:
    """Open the database that `uri` names: a URI, or a plain path for a
    FileStorage.

    A ZEO client waits `connectTimeout` seconds for its server (unless the
    URI sets ``wait_timeout``) instead of for ever; a RelStorage client
    waits as long for a database server that refuses connections or says
    it is starting up (one restarting).  Without `create`, a
    FileStorage file must exist already, so that a mistyped path is not a
    new, empty database.  With `readOnly`, the storage is opened read-only
    (FileStorage, ZEO and RelStorage): nothing is written, not even a
    database root; a read-only FileStorage takes no lock, so it can be read
    while another process holds the file.
    """
    path = _fileStoragePath(uri)
    if path is not None and not create and not os.path.exists(path):
        raise DatabaseError(
            f'there is no database at {path}: check the path (remotetask '
            f'init --db {shlex.quote(uri)} --service NAME creates one)')
    factory, dbArgs = _resolve(uri, connectTimeout, readOnly)
    deadline = time.monotonic() + connectTimeout
    backoff = Backoff(first=0.2, limit=2.0)
    while True:
        try:
            storage = factory()
            break
        except Exception as error:
            if _serverAway(error) and time.monotonic() < deadline:
                # A database server restarting (RelStorage's; a ZEO client
                # waits by itself): as long as a ZEO client would wait.
                backoff.wait()
                continue
            raise DatabaseError(
                f'cannot open database {uri!r}: {_openFailure(error, path)}'
            ) from error
    if type(storage) is MappingStorage:   # memory://
        storage = MemoryStorage(storage.__name__)
    mendOids(storage)
    try:
        return DB(storage, **dbArgs)
    except ReadOnlyError:
        storage.close()
        raise DatabaseError(
            f'the database {uri!r} is empty: it has no services yet '
            f'(remotetask init creates one)') from None
    except BaseException:
        storage.close()
        raise


def _fileStoragePath(uri: str) -> Optional[str]:
    """The file of a FileStorage `uri` (a plain path or ``file://``), as
    given; None for other storages."""
    if not _SCHEME.match(uri):
        return uri
    if uri.startswith('file://'):
        # zodburi takes everything before '?' as the path, unquoted.
        return os.path.normpath(uri[len('file://'):].split('?', 1)[0])
    return None


def _resolve(uri, connectTimeout, readOnly):
    if not _SCHEME.match(uri):
        # A plain path: the file itself, '?' and all, with no URI options.
        return (lambda: FileStorage(uri, read_only=readOnly)), {}
    scheme = uri.split(':', 1)[0].lower()
    given = uri
    if scheme == 'postgres':
        uri = _withPostgresDefaults(uri)
    if readOnly and scheme in _READ_ONLY_OPTIONS:
        uri = _withOption(uri, _READ_ONLY_OPTIONS[scheme])
    if scheme == 'zeo':
        uri = _withOption(uri, f'wait_timeout={max(1, round(connectTimeout))}')
    try:
        return zodburi.resolve_uri(uri)
    except zodburi.NoResolverForScheme:
        raise DatabaseError(_noResolver(given, scheme)) from None
    except Exception as error:
        raise DatabaseError(
            f'cannot use database URI {given!r}: {_reason(error)}') from error


def _withOption(uri, option):
    """`uri` with the query `option` (``name=value``), unless it has one of
    that name already."""
    name = option.split('=', 1)[0]
    base, question, query = uri.partition('?')
    if name in urllib.parse.parse_qs(query):
        return uri
    return f'{base}?{query}&{option}' if query else f'{base}?{option}'


def _withPostgresDefaults(uri):
    # RelStorage's resolver writes a missing port or user into the DSN as
    # the word 'None'.
    parts = urllib.parse.urlsplit(uri)
    if not parts.username or not parts.hostname:
        raise DatabaseError(
            f'cannot use database URI {uri!r}: it needs a user and a host, '
            f'as in postgres://USER@HOST:5432/DBNAME')
    if parts.port is None:
        uri = urllib.parse.urlunsplit(
            parts._replace(netloc=parts.netloc + ':5432'))
    return uri


def _noResolver(uri, scheme):
    if scheme in RELSTORAGE_SCHEMES:
        return (f'cannot use database URI {uri!r}: {scheme}:// needs '
                f'RelStorage: pip install "lovely.remotetask[relstorage]"')
    if scheme == 'postgresql':
        return (f'cannot use database URI {uri!r}: RelStorage spells it '
                f'postgres://USER@HOST:5432/DBNAME')
    known = sorted({ep.name for ep in
                    entry_points(group='zodburi.resolvers')})
    return (f'cannot use database URI {uri!r}: no storage for {scheme}://; '
            f'use a path of a FileStorage file, or one of '
            f'{", ".join(s + "://" for s in known)}')


#: What PostgreSQL says while it restarts: it refuses connections, then
#: takes them only to say it is not ready yet.
_AWAY = ('connection refused', 'the database system is starting up',
         'the database system is shutting down',
         'the database system is not yet accepting connections',
         'the database system is in recovery mode')


def _serverAway(error) -> bool:
    """Whether `error` says a database server is away for a moment."""
    text = str(error).lower()
    return type(error).__name__ == 'OperationalError' and \
        any(away in text for away in _AWAY)


def _openFailure(error, path):
    from zc.lockfile import LockError
    if isinstance(error, LockError) and path is not None:
        holder = _lockHolder(path)
        return (f'it is in use by {holder}: a FileStorage serves one process '
                f'at a time; stop that process, or serve the file through a '
                f'ZEO server (remotetask zeo --address 127.0.0.1:8100 --db '
                f'{path}) and give every process --db zeo://127.0.0.1:8100')
    return _reason(error)


def _lockHolder(path):
    try:
        with open(path + '.lock') as lock:
            pid = lock.read().strip()
    except OSError:
        pid = ''
    return f'process {pid}' if pid.isdigit() else 'another process'


def _reason(error) -> str:
    text = ' '.join(str(error).split())     # one line, whatever it was
    return f'{type(error).__name__}: {text}' if text \
        else type(error).__name__
