"""The job trees of the development versions before lanes, which stored
them under this module's name: kept so that such a service still loads
(see `legacy`; `jobmap` holds the jobs now).

They are BTrees with small interior nodes, for keys that arrive in order:
with 32 children a split rewrites a small parent node, where the default
500 made the bytes written per add grow with the number of jobs.
"""
from BTrees.IIBTree import IITreeSet
from BTrees.IOBTree import IOBTree

_INTERNAL_SIZE = 32
#: Jobs per bucket: every add rewrites the last bucket, and pickling it
#: (a reference per job) was a fifth of an add's time with the default 60.
_LEAF_SIZE = 30


class JobTree(IOBTree):
    """Jobs by id."""

    max_internal_size = _INTERNAL_SIZE
    max_leaf_size = _LEAF_SIZE


class IdSet(IITreeSet):
    """A set of job ids."""

    max_internal_size = _INTERNAL_SIZE
