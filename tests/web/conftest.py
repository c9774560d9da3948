"""Fixtures of the Web service tests: a database with services in it, the
application over it, and a real waitress server on a free loopback port."""
import os
import threading

import pytest
import transaction
import webtest
from ZODB import DB
from ZODB.FileStorage import FileStorage

from lovely import remotetask
from lovely.remotetask import web
from lovely.remotetask.task import TaskError

MANAGE_TOKEN = 'manage-token-0123456789'
READ_TOKEN = 'read-token-0123456789'
MANAGE = {'Authorization': f'Bearer {MANAGE_TOKEN}'}
READ = {'Authorization': f'Bearer {READ_TOKEN}'}


def echo(input):
    return input


def fail(input):
    raise TaskError(f'failed: {input}')


@pytest.fixture
def db(tmp_path):
    """A FileStorage with a root-level service ``svc`` and a site ``site1``
    holding ``mail``; the tasks ``echo`` and ``fail`` are registered."""
    remotetask.provideTask(echo)
    remotetask.provideTask(fail)
    database = DB(FileStorage(os.path.join(tmp_path, 'Data.fs')))
    tm = transaction.TransactionManager()
    connection = database.open(transaction_manager=tm)
    root = remotetask.getApplicationRoot(connection, create=True)
    root['svc'] = remotetask.TaskService()
    root['site1'] = remotetask.Folder()
    root['site1']['mail'] = remotetask.TaskService()
    tm.commit()
    connection.close()
    yield database
    database.close()


class Reader:
    """Looks at the database as it is committed, from a connection of its
    own: what the application did, not what it said it did."""

    def __init__(self, database):
        self.tm = transaction.TransactionManager()
        self.connection = database.open(transaction_manager=self.tm)

    def service(self, path='svc'):
        self.tm.begin()   # see what was committed since
        root = self.connection.root()['Application']
        for name in path.split('.'):
            root = root[name]
        return root

    def close(self):
        self.tm.abort()
        self.connection.close()


@pytest.fixture
def reader(db):
    reading = Reader(db)
    yield reading
    reading.close()


@pytest.fixture
def app(db):
    return web.makeApp(db, credentials=web.Credentials(
        manage=[MANAGE_TOKEN], read=[READ_TOKEN]))


@pytest.fixture
def client(app):
    return webtest.TestApp(app)


class LiveServer:
    """`app` served by waitress in a thread on 127.0.0.1, a free port, set
    up as ``remotetask serve`` sets it up; `options` are those of
    `web.serving.createServer`."""

    def __init__(self, app, **options):
        from lovely.remotetask.web import serving
        self.server = serving.createServer(app, host='127.0.0.1', port=0,
                                           **options)
        self.url = f'http://127.0.0.1:{self.server.effective_port}'
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self):
        # First the threads that run requests: each pulls the loop's
        # trigger as its request ends, which may be after its client has
        # the answer, and a trigger closed meanwhile failed with EBADF
        # (or wrote to whatever file took its number).
        from waitress import wasyncore
        dispatcher = self.server.task_dispatcher
        dispatcher.shutdown()
        assert not dispatcher.threads, 'a request did not end'
        # Then every channel, clients' keep-alive connections too, closed
        # from the server's own loop, so that it ends at once rather than
        # when they do.  The thunk goes in and the trigger is pulled under
        # the trigger's lock: waitress's pull_trigger appends the thunk,
        # then writes, and a loop woken meanwhile by an earlier pull (a
        # request's end) ran the thunk first, which closed the trigger,
        # and the write failed with EBADF (or wrote to whatever file took
        # its number).  The loop runs thunks under the same lock.
        trigger = self.server.trigger
        with trigger.lock:
            trigger.thunks.append(
                lambda: wasyncore.close_all(self.server._map))
            trigger._physical_pull()
        self.thread.join(10)
        assert not self.thread.is_alive(), 'the server did not stop'


@pytest.fixture
def live(app):
    server = LiveServer(app)
    yield server
    server.close()
