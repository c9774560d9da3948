import os

import pytest
import transaction
from ZODB import DB
from ZODB.FileStorage import FileStorage


@pytest.fixture
def db(tmp_path):
    """A FileStorage database: unlike MappingStorage, it resolves conflicts."""
    database = DB(FileStorage(os.path.join(tmp_path, 'Data.fs')))
    yield database
    database.close()


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
def clients(db):
    """Make clients of the test database; closes them at the end."""
    made = []

    def make():
        made.append(Client(db))
        return made[-1]

    yield make
    for client in made:
        client.close()
