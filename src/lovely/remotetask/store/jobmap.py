"""Jobs by id, in blocks of consecutive ids: the store's index of its
jobs, which also keeps them alive for packs.

A job id (31 bits) names a superblock, a block in it and a slot in the
block.  Ids are the jobs' oids (see `Store.newId`), which a storage
hands out in order, so a block of `SLOTS` ids fills up with jobs added
about the same time.  The drain files each new job in the slot of its
id, which rewrites the job's block (a few hundred bytes for a batch of
jobs), and its superblock when the block is new; the superblocks are kept
in a BTree that changes once every `SLOTS * BLOCKS` ids.  Removing a job
empties its slot; a block left empty goes, unless new jobs may still
come to it (it is the newest).  Concurrent changes of one block merge
slot by slot.
"""
from typing import Iterator, Optional

from BTrees.IOBTree import IOBTree
from ZODB.POSException import ConflictError

from lovely.remotetask.interfaces import ID_BITS
from lovely.remotetask.store.merge import mergeFields, mergeMapping, mergeSlots
from lovely.remotetask.store.versioning import Versioned

SLOT_BITS = 5
SLOTS = 1 << SLOT_BITS
INDEX_BITS = 6
BLOCKS = 1 << INDEX_BITS
_SUPER_SHIFT = SLOT_BITS + INDEX_BITS
_LIMIT = 1 << ID_BITS


class Block(Versioned):
    """Up to SLOTS jobs with consecutive ids."""

    #: Set when the block is taken out of its superblock.
    removed = False

    def __init__(self, number: int) -> None:
        self.number = number
        self.slots = (None,) * SLOTS

    def _p_resolveConflict(self, old, committed, new):
        for side in (committed, new):
            if side.get('removed') and not old.get('removed'):
                # Taken away by one side while the other filled a slot.
                raise ConflictError('a block removed while it changed')
        return mergeFields(old, committed, new, dict(slots=mergeSlots))

    def isEmpty(self) -> bool:
        return not any(self.slots)

    def __repr__(self):
        return f'<Block {self.number}>'


class Superblock(Versioned):
    """Up to BLOCKS blocks, by their index."""

    def __init__(self) -> None:
        self.blocks = {}

    def _p_resolveConflict(self, old, committed, new):
        return dict(new, blocks=mergeMapping(
            old['blocks'], committed['blocks'], new['blocks'], 'block'))


class JobMap(Versioned):
    """Job id -> job, for the jobs the drain has filed."""

    #: The highest id filed so far: blocks below its block get no new jobs
    #: (ids are oids, handed out in order), and may go once empty.
    high = -1

    def __init__(self) -> None:
        self._tree = IOBTree()

    def get(self, jobid: int):
        block = self._block(jobid, create=False)
        return None if block is None else block.slots[jobid & (SLOTS - 1)]

    def add(self, job) -> None:
        jobid = job.id
        if jobid > self.high:
            self.high = jobid
        block = self._block(jobid, create=True)
        slot = jobid & (SLOTS - 1)
        if block.slots[slot] is not job:
            block.slots = block.slots[:slot] + (job,) + block.slots[slot + 1:]

    def remove(self, jobid: int) -> None:
        """Take a job out; a block left empty goes too."""
        block = self._block(jobid, create=False)
        slot = jobid & (SLOTS - 1)
        if block is None or block.slots[slot] is None:
            return
        block.slots = block.slots[:slot] + (None,) + block.slots[slot + 1:]
        if block.isEmpty() and block.number < self.high >> SLOT_BITS:
            block.removed = True
            superblock = self._tree[jobid >> _SUPER_SHIFT]
            blocks = dict(superblock.blocks)
            del blocks[(jobid >> SLOT_BITS) & (BLOCKS - 1)]
            if blocks:
                superblock.blocks = blocks
            else:
                del self._tree[jobid >> _SUPER_SHIFT]

    def below(self, limit: Optional[int] = None) -> Iterator:
        """The jobs of ids below `limit` (all if None), highest first."""
        if limit is None:
            limit = _LIMIT
        if limit <= 0 or not self._tree:
            return
        high = (limit - 1) >> _SUPER_SHIFT
        for number in _descending(self._tree, high):
            blocks = self._tree[number].blocks
            for index in sorted(blocks, reverse=True):
                first = ((number << INDEX_BITS) | index) << SLOT_BITS
                if first >= limit:
                    continue
                slots = blocks[index].slots[:limit - first]
                for job in reversed(slots):
                    if job is not None:
                        yield job

    def _block(self, jobid: int, create: bool) -> Optional[Block]:
        if not 0 <= jobid < _LIMIT:
            return None
        number = jobid >> _SUPER_SHIFT
        superblock = self._tree.get(number)
        if superblock is None:
            if not create:
                return None
            superblock = self._tree[number] = Superblock()
        index = (jobid >> SLOT_BITS) & (BLOCKS - 1)
        block = superblock.blocks.get(index)
        if block is None and create:
            block = Block(jobid >> SLOT_BITS)
            superblock.blocks = {**superblock.blocks, index: block}
        return block


def _descending(tree, high: int) -> Iterator[int]:
    """The keys of an IOBTree from `high` down."""
    try:
        key = tree.maxKey(high)
    except ValueError:
        return
    while True:
        yield key
        try:
            key = tree.maxKey(key - 1)
        except ValueError:
            return
