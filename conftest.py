"""Every test and doctest starts with an empty component registry and ends
with no processing thread left running."""
import pytest

from lovely.remotetask import testing


@pytest.fixture(autouse=True)
def _cleanRegistry():
    testing.setUp()
    yield
    testing.tearDown()
