"""Every test and doctest starts with an empty component registry and ends
with no processing thread left running."""
import pytest

from lovely import remotetask
from lovely.remotetask import testing


@pytest.fixture(autouse=True)
def _cleanRegistry():
    testing.setUp()
    yield
    testing.tearDown()


@pytest.fixture(autouse=True)
def _sharedDatabase(doctest_namespace, tmp_path):
    """``sharedDatabase()`` for the pages that show races: a FileStorage in
    a temporary directory (tests/test_races.py runs them on ZEO and
    RelStorage)."""
    def sharedDatabase():
        return remotetask.openDatabase(str(tmp_path / 'Data.fs'))
    doctest_namespace['sharedDatabase'] = sharedDatabase
