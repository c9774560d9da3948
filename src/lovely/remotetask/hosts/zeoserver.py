"""A ZEO server that resolves this package's conflicts, and a check of it.

Conflicts over ZEO are resolved in the server: when two clients change one
object at once, the server loads the object's class to merge the changes.
A server that cannot import lovely.remotetask cannot merge what it stores,
and concurrent adds, claims and records that merge elsewhere fail each
other.  ``remotetask zeo`` runs a ZEO server in this environment, where
the package is importable; `checkResolution`, run by each worker as it
starts, tells when the server it uses cannot resolve them.
"""
import logging
import sys
import uuid
from typing import List, Optional

import transaction
from ZEO.ClientStorage import ClientStorage
from ZODB.POSException import ConflictError

import lovely.remotetask  # noqa: F401 - the classes the server resolves

log = logging.getLogger('lovely.remotetask')


def serve(address: str, path: str, extra: Optional[List[str]] = None) -> None:
    """Run a ZEO server for the FileStorage at `path` on `address`
    (``PORT`` or ``HOST:PORT``) until it is stopped."""
    from ZEO import runzeo
    sys.argv[1:] = ['-a', address, '-f', path] + list(extra or ())
    runzeo.main()


def checkResolution(db, serviceOid: bytes) -> bool:
    """Whether the database's server merges concurrent changes of this
    package's objects; logs CRITICAL when it does not.

    Two connections register a worker each at once, then both go.  Only
    a ZEO server resolves conflicts away from this process; with other
    storages the answer is True at once.
    """
    if not isinstance(db.storage, ClientStorage):
        return True
    key = f'probe:{uuid.uuid4().hex[:8]}'
    managers = [transaction.TransactionManager() for _ in range(2)]
    connections = [db.open(transaction_manager=tm) for tm in managers]
    merged = True
    try:
        for _ in range(10):
            for tm in managers:
                tm.begin()
            for n, connection in enumerate(connections):
                connection.get(serviceOid).registerWorker(f'{key}:{n}', 60)
            try:
                managers[0].commit()
            except ConflictError:
                # Another writer came first (this worker's processors
                # register too): start again.
                for tm in managers:
                    tm.abort()
                continue
            try:
                managers[1].commit()
            except ConflictError:
                merged = False
                managers[1].abort()
            break
        for attempt in managers[0].attempts(10):
            with attempt:
                service = connections[0].get(serviceOid)
                for n in range(2):
                    service.unregisterWorker(f'{key}:{n}')
    finally:
        for tm, connection in zip(managers, connections):
            tm.abort()
            connection.close()
    if not merged:
        log.critical(
            'the ZEO server cannot resolve the conflicts of lovely.remotetask '
            '(it cannot import it): jobs added, claimed and recorded at once '
            'will fail each other.  Run the server where lovely.remotetask '
            'is installed, e.g. with "remotetask zeo".')
    return merged
