"""The documentation's races, on each storage that processes share: the
same page, with ``sharedDatabase()`` opening a database over a ZEO server
or on RelStorage (as zc.queue runs its queue.rst per implementation)."""
import doctest
import os

import pytest

DOCS = os.path.join(os.path.dirname(__file__), '..', 'docs')
PAGES = ['concurrency.rst']


@pytest.mark.parametrize('page', PAGES)
def test_races_on_shared_storages(page, anyDb):
    result = doctest.testfile(
        os.path.join(DOCS, page), module_relative=False,
        globs=dict(sharedDatabase=lambda: anyDb, __name__='races'),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f'{result.failed} examples of {page} failed'
