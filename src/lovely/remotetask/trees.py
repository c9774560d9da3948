"""BTrees with small interior nodes, for keys that arrive in order.

Job ids are handed out in sequence, so every insertion lands at the right
edge of the tree and splits a bucket every few dozen inserts.  Each split
rewrites the parent node; with the default 500 children that node grows
with the number of jobs, and so did the bytes written per job (measured:
1.7 KB per add with an empty service, 2.4 KB with 20,000 jobs).  With 32
children the rewrite stays small and the tree only grows a level deeper.
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
