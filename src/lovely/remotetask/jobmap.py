"""Jobs by id, in blocks of ids that each writer fills on its own.

A job id (31 bits) names a superblock, a block in it and a slot in the
block.  Each writer (its lane, see `lanes`) takes a block of `SLOTS`
consecutive ids that no one else uses and fills it as it adds jobs; when
the block is full it takes the next block number, or a random free one.
So adding a job rewrites the writer's own block only, and its concurrent
changes by others (a job removed by `clean`) merge slot by slot.

Superblocks are kept in a BTree.  A BTree reads its inner nodes as
current on every insert, so that a concurrent split makes the insert
fail; here the tree changes only when a writer's ids enter a new
superblock, once every `SLOTS * BLOCKS` jobs, and such changes never meet
in practice.

A writer's blocks are also linked in the order it filled them, newest
last, so that jobs can be listed newest first (see `listing`).
"""
import random
from typing import Iterator, Optional

from BTrees.IOBTree import IOBTree
from ZODB.POSException import ConflictError

from lovely.remotetask.merge import mergeFields, mergeMapping, mergeSlots
from lovely.remotetask.versioning import Versioned

SLOT_BITS = 5
SLOTS = 1 << SLOT_BITS
INDEX_BITS = 6
BLOCKS = 1 << INDEX_BITS
#: How many blocks there are: job ids are below 2**31.
BLOCK_NUMBERS = 1 << (31 - SLOT_BITS)
_ID_LIMIT = BLOCK_NUMBERS << SLOT_BITS
#: Tries at a random free block before giving up (the id space is full).
_TRIES = 1000


class Block(Versioned):
    """Up to SLOTS jobs with consecutive ids, handed out by one writer."""

    def __init__(self, number: int, lane=None,
                 prev: Optional['Block'] = None) -> None:
        self._initState()
        self.number = number
        #: The lane of the writer that fills it (None for blocks made to
        #: hold jobs of a given id, see `JobMap.store`).
        self.lane = lane
        self.slots = (None,) * SLOTS
        #: Slots handed out so far, by the writer.
        self.used = 0
        #: Whether the writer still hands out its ids: a current block is
        #: never removed, however empty.
        self.current = True
        self.prev = prev
        self.next = None
        #: Set when the block is taken out of the map and its chain.
        self.unlinked = False

    def _p_resolveConflict(self, old, committed, new):
        for side in (committed, new):
            if side['unlinked'] and not old['unlinked']:
                # Removed by one side while the other changed it.
                raise ConflictError('a block removed while it changed')
        return mergeFields(old, committed, new, dict(slots=mergeSlots))

    def isEmpty(self) -> bool:
        return not any(self.slots)

    def jobs(self, reverse: bool = False):
        slots = reversed(self.slots) if reverse else self.slots
        return (job for job in slots if job is not None)

    def __repr__(self):
        return f'<Block {self.number}>'


class Superblock(Versioned):
    """Up to BLOCKS blocks, by their index."""

    def __init__(self) -> None:
        self._initState()
        self.blocks = {}

    def _p_resolveConflict(self, old, committed, new):
        return dict(new, blocks=mergeMapping(
            old['blocks'], committed['blocks'], new['blocks'], 'block'))


class JobMap(Versioned):
    """A read-only mapping of job id to job (`ITaskService.jobs`), in id
    order; the service adds and removes jobs."""

    def __init__(self, lanes) -> None:
        self._initState()
        self._tree = IOBTree()
        #: For the number of jobs: the lanes count them.
        self._lanes = lanes

    # The mapping

    def get(self, jobid, default=None):
        block = self._block(jobid)
        if block is None:
            return default
        job = block.slots[jobid & (SLOTS - 1)]
        return default if job is None else job

    def __getitem__(self, jobid):
        job = self.get(jobid)
        if job is None:
            raise KeyError(jobid)
        return job

    def __contains__(self, jobid) -> bool:
        return self.get(jobid) is not None

    def __len__(self) -> int:
        return sum(self._lanes.counts().values())

    def items(self, min: Optional[int] = None, excludemin: bool = False):
        """(id, job) in id order, from `min` on."""
        start = None if min is None else min >> (SLOT_BITS + INDEX_BITS)
        for number, superblock in self._tree.items(min=start):
            for index in sorted(superblock.blocks):
                block = superblock.blocks[index]
                for slot, job in enumerate(block.slots):
                    if job is None:
                        continue
                    jobid = job.id
                    if min is not None and (
                            jobid < min or excludemin and jobid == min):
                        continue
                    yield jobid, job

    def keys(self, min: Optional[int] = None, excludemin: bool = False):
        return (jobid for jobid, _ in self.items(min, excludemin))

    def values(self):
        return (job for _, job in self.items())

    def __iter__(self) -> Iterator[int]:
        return self.keys()

    def __repr__(self):
        return '<JobMap>'

    # For the service

    def allocate(self, lane) -> int:
        """A new job id from `lane`'s block; its slot is the caller's to
        fill with `store`."""
        block = lane.block
        if block is None or block.used >= SLOTS:
            block = self._newBlock(lane)
        slot = block.used
        block.used += 1
        return (block.number << SLOT_BITS) | slot

    def store(self, job) -> None:
        block = self._block(job.id)
        slot = job.id & (SLOTS - 1)
        block.slots = block.slots[:slot] + (job,) + block.slots[slot + 1:]

    def adopt(self, job, lane) -> None:
        """Keep a job that has an id already (see `legacy`): its block is
        made if need be, as one of `lane`'s that it hands out no ids of."""
        number = job.id >> SLOT_BITS
        block = self._blockAt(number)
        if block is None:
            block = Block(number, lane, prev=lane.block)
            block.current = False
            block.used = SLOTS
            if lane.block is not None:
                lane.block.next = block
            lane.block = block
            superIndex, index = number >> INDEX_BITS, number & (BLOCKS - 1)
            superblock = self._tree.get(superIndex)
            if superblock is None:
                superblock = self._tree[superIndex] = Superblock()
            superblock.blocks = {**superblock.blocks, index: block}
        self.store(job)

    def remove(self, jobid: int) -> None:
        """Take a job out; a block left empty that its writer no longer
        fills goes too."""
        block = self._block(jobid)
        if block is None:
            return
        slot = jobid & (SLOTS - 1)
        if block.slots[slot] is None:
            return
        block.slots = block.slots[:slot] + (None,) + block.slots[slot + 1:]
        if not block.current and block.isEmpty():
            self._unlink(block)

    # Blocks

    def _block(self, jobid) -> Optional[Block]:
        # Every step of a job looks it up here: no calls but the trees'.
        if type(jobid) is not int and (
                not isinstance(jobid, int) or isinstance(jobid, bool)):
            return None
        if not 0 <= jobid < _ID_LIMIT:
            return None
        superblock = self._tree.get(jobid >> (SLOT_BITS + INDEX_BITS))
        return None if superblock is None else \
            superblock.blocks.get((jobid >> SLOT_BITS) & (BLOCKS - 1))

    def _blockAt(self, number: int) -> Optional[Block]:
        return self._block(number << SLOT_BITS)

    def _newBlock(self, lane) -> Block:
        old = lane.block
        number = None if old is None else old.number + 1
        for _ in range(_TRIES):
            if number is not None and number < BLOCK_NUMBERS and \
                    self._blockAt(number) is None:
                break
            number = random.randrange(BLOCK_NUMBERS)
        else:
            raise RuntimeError('no free job ids left: clean finished jobs')
        block = Block(number, lane, prev=old)
        if old is not None:
            old.next = block
            self.leave(old)
        superIndex, index = number >> INDEX_BITS, number & (BLOCKS - 1)
        superblock = self._tree.get(superIndex)
        if superblock is None:
            superblock = self._tree[superIndex] = Superblock()
        superblock.blocks = {**superblock.blocks, index: block}
        lane.block = block
        return block

    def leave(self, block: Block) -> None:
        """Hand out no more ids from `block`; remove it if it is empty."""
        block.current = False
        if block.isEmpty():
            self._unlink(block)

    def _unlink(self, block: Block) -> None:
        prev, next = block.prev, block.next
        if prev is not None:
            prev.next = next
        if next is not None:
            next.prev = prev
        elif block.lane is not None and block.lane.block is block:
            # The newest block of a retired lane: its lane lists from the
            # one before.
            block.lane.block = prev
        block.unlinked = True
        block.prev = block.next = None
        superIndex = block.number >> INDEX_BITS
        superblock = self._tree[superIndex]
        blocks = {i: b for i, b in superblock.blocks.items()
                  if b is not block}
        superblock.blocks = blocks
        if not blocks:
            del self._tree[superIndex]
