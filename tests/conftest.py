import os

import pytest
import transaction
from ZODB import DB
from ZODB.FileStorage import FileStorage

import servers
from lovely.remotetask.runtime import processing
from lovely.remotetask.hosts.database import openDatabase


@pytest.fixture
def db(tmp_path):
    """A FileStorage database: unlike MappingStorage, it resolves conflicts."""
    database = DB(FileStorage(os.path.join(tmp_path, 'Data.fs')))
    yield database
    processing.stopAll(timeout=10)   # before the database goes
    database.close()


@pytest.fixture(params=['file', 'zeo', 'relstorage'])
def anyDb(request, tmp_path):
    """The same tests over each storage that several clients can share:
    FileStorage in this process, a ZEO server, RelStorage on PostgreSQL."""
    if request.param == 'file':
        database = DB(FileStorage(os.path.join(tmp_path, 'Data.fs')))
        yield database
        processing.stopAll(timeout=10)
        database.close()
    elif request.param == 'zeo':
        server = servers.ZEOServer(str(tmp_path))
        server.start()
        database = openDatabase(server.uri)
        yield database
        processing.stopAll(timeout=10)
        database.close()
        server.close()
    else:
        if not servers.postgresReachable():
            pytest.skip('no PostgreSQL at 127.0.0.1:5432 (user postgres)')
        postgres = servers.PostgresDatabase()
        database = openDatabase(postgres.uri)
        yield database
        processing.stopAll(timeout=10)
        database.close()
        postgres.drop()


class Client:
    """A connection with a transaction manager of its own, as a process or
    thread of the application would have."""

    def __init__(self, db):
        self.tm = transaction.TransactionManager()
        self.connection = db.open(transaction_manager=self.tm)
        self.tm.begin()

    @property
    def root(self):
        return self.connection.root()

    def commit(self):
        self.tm.commit()
        self.tm.begin()

    def abort(self):
        self.tm.abort()
        self.tm.begin()

    def close(self):
        self.tm.abort()
        self.connection.close()


@pytest.fixture
def clients(anyDb):
    """Make clients of the test database; closes them at the end."""
    made = []

    def make():
        made.append(Client(anyDb))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def fileUri(tmp_path):
    """The URI of a FileStorage with an application root, a root-level
    service ``svc`` and a site ``site1`` with a service ``mail``; closed,
    for another process to open."""
    from lovely import remotetask
    path = os.path.join(tmp_path, 'Data.fs')
    db = openDatabase(f'file://{path}')
    connection = db.open()
    root = remotetask.getApplicationRoot(connection, create=True)
    root['site1'] = remotetask.Folder()
    root['site1']['mail'] = remotetask.TaskService()
    root['svc'] = remotetask.TaskService()
    transaction.commit()
    connection.close()
    db.close()
    return f'file://{path}'
