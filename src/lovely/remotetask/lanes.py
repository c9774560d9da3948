"""Lanes: what each writer of a service writes, apart from every other.

Applications add jobs from many threads and processes at once, inside
their own transactions, and those must never fail each other.  In ZODB
two transactions fail each other when they change one object in ways that
cannot be merged, or when one changes an object that the other read as
current (BTrees do that to their inner nodes on every insert, so a split
fails every concurrent insert into the same tree).

So each connection that writes to a service gets a lane of its own: the
counters of the job statuses it changed and the chains it appends to (the
queue of each priority, the jobs started later, the jobs to schedule, the
finished jobs of each status).  No other connection appends to them or
counts in them.  Readers merge the lanes: counts add up, and chains are
read in the order of their entries' stamps.

A stamp is the last transaction the writer's connection sees (the start
of its snapshot, cut to about a millisecond), and a count of the lane's
entries made in that millisecond: an entry made in a transaction that
began after another committed sorts after the entries that transaction
made, and a lane's entries sort in the order it made them.  Jobs are so
first in, first out as far as commit order tells; jobs added by
transactions running at the same time may come in either order.  An
entry is its stamp and its job id in one int, so that entries sort as
they should.
"""
import random
import struct
import time
from typing import Dict, Iterator, Optional

from ZODB.mvccadapter import MVCCAdapterInstance
from ZODB.utils import newTid, p64, u64

from lovely.remotetask.interfaces import (
    CRONJOB, DELAYED, FINISHED, PROCESSING, QUEUED, RETRY, STARTLATER)
from lovely.remotetask.merge import mergeCounts, mergeMapping
from lovely.remotetask.queue import Chain
from lovely.remotetask.versioning import Versioned

#: Job ids take 31 bits (they travel as XML-RPC ints).
ID_BITS = 31
_ID_MASK = (1 << ID_BITS) - 1
#: Tids count 2**32 per minute; this many low bits make about a millisecond.
_STAMP_SHIFT = 16
#: Bits for the count of a lane's entries within one millisecond (more in
#: one millisecond move the stamp on by one: it stays after those before).
_COUNT_BITS = 12

#: Minutes of finished jobs a lane counts, for charts of throughput.
ACTIVITY_MINUTES = 60

#: Seconds a lane with nothing in its chains must have been left alone
#: before a processor may retire it (see `Lanes.retireIdle`).
IDLE_LANE_TIME = 3600.0


def entry(stamp: int, jobid: int) -> int:
    return (stamp << ID_BITS) | jobid


def entryId(value: int) -> int:
    return value & _ID_MASK


def entryStamp(value: int) -> int:
    return value >> ID_BITS


def stampTime(service, stamp: int) -> float:
    """The epoch seconds of one of `service`'s stamps (see ZODB.TimeStamp)."""
    from lovely.remotetask.workers import tidTime
    tid = ((stamp >> _COUNT_BITS) + service._lanes.epoch) << _STAMP_SHIFT
    return tidTime(tid.to_bytes(8, 'big'))


def firstStamp(milliseconds: int) -> int:
    """The first stamp of a millisecond (see `currentStamp`)."""
    return milliseconds << _COUNT_BITS


def _milliseconds(tid: bytes) -> int:
    return u64(tid) >> _STAMP_SHIFT


def currentStamp(service) -> int:
    """The time of an entry made now, for `Lane.nextStamp`: the last
    transaction the connection sees, or the clock for a service in no
    database, counted from when the service was made (so that stamps take
    few bytes)."""
    jar = service._p_jar
    tid = _lastSeen(jar._normal_storage) if jar is not None else None
    if not tid or tid == b'\0' * 8:
        tid = newTid(None)
    return _milliseconds(tid) - service._lanes.epoch


def _lastSeen(storage) -> Optional[bytes]:
    """The last transaction a connection's own storage (not the one a
    savepoint puts in its place) sees.

    ZODB's MVCC adapter (FileStorage, ZEO) keeps where the connection's
    snapshot starts: reading it takes no lock, whereas the storage's
    `lastTransaction` waits for the storage lock, which a FileStorage
    holds while it syncs a commit to disk.  Other storages (RelStorage)
    are asked.
    """
    start = storage._start if isinstance(storage, MVCCAdapterInstance) \
        else None
    if start:
        return p64(u64(start) - 1)
    return storage.lastTransaction()


#: The statuses a lane counts, in the order of `LaneState.counts`.
COUNTED = (QUEUED, PROCESSING, RETRY, STARTLATER, DELAYED, CRONJOB) + \
    FINISHED


_INDEX = {status: index for index, status in enumerate(COUNTED)}
_ZEROS = (0,) * len(COUNTED)


class Lane(Versioned):
    """One writer's chains and blocks of job ids, and its state.

    Only its writer changes a lane (and a processor retiring it, which
    conflicts with the writer on purpose), so it has no conflict
    resolution.  What every step changes is kept in a small object of its
    own (`LaneState`): the lane itself is rewritten only when it starts a
    chain or a block.
    """

    def __init__(self, key: int) -> None:
        self._initState()
        self.key = key
        self.created = time.time()
        #: channel -> Chain: ('queued', priority), 'start later',
        #: 'schedule', and each finished status.
        self.chains = {}
        #: The block of job ids this writer hands out (see `jobmap`).
        self.block = None
        self.retired = False
        self.state = LaneState()
        #: The jobs this writer finished in the last minutes (see
        #: `ActivityLog`), made when first needed.
        self.log = None

    @property
    def counts(self) -> Dict[str, int]:
        """status -> how many jobs this writer moved into it, less those it
        moved out (may be negative)."""
        return {status: count for status, count in
                zip(COUNTED, self.state.counts) if count}

    def count(self, status: str, delta: int) -> None:
        state = self.state
        counts = list(state.counts or _ZEROS)
        counts[_INDEX[status]] += delta
        state.counts = tuple(counts)

    def nextStamp(self, now: int) -> int:
        """The stamp of an entry made at `now` (see `currentStamp`): after
        every entry this lane made before."""
        stamp = max(firstStamp(now), self.state.stamp + 1)
        self.state.stamp = stamp
        return stamp

    def finished(self, status: str, when: float) -> None:
        """Count a job finished with `status` at `when` in its minute."""
        minute = int(when // 60)
        state = self.state
        if state.minute is not None and state.minute[0] != minute:
            # A new minute: the last one goes to the log.
            if self.log is None:
                self.log = ActivityLog()
            self.log.add(state.minute, minute)
            state.minute = None
        counts = list(state.minute[1:] if state.minute is not None else
                      (0,) * len(FINISHED))
        counts[FINISHED.index(status)] += 1
        state.minute = (minute,) + tuple(counts)

    def minutes(self) -> Dict[int, Dict[str, int]]:
        """minute -> {finished status: count} of the last minutes."""
        found = {} if self.log is None else dict(self.log.minutes)
        if self.state.minute is not None:
            found[self.state.minute[0]] = self.state.minute[1:]
        return {minute: {status: count for status, count
                         in zip(FINISHED, counts) if count}
                for minute, counts in found.items()}

    def chain(self, channel) -> Chain:
        """This lane's chain of `channel`, made when first needed.  The
        finished jobs' chains are listed newest first too: they link
        back (from their next segment on, for chains stored before)."""
        chain = self.chains.get(channel)
        if chain is None:
            chain = Chain(linksBack=channel in FINISHED)
            self.chains = {**self.chains, channel: chain}
        elif channel in FINISHED and not chain.linksBack:
            chain.linksBack = True
        return chain

    def isEmpty(self) -> bool:
        return all(chain.isEmpty() for chain in self.chains.values())

    def lastWritten(self) -> float:
        from lovely.remotetask.workers import tidTime
        serial = self.state._p_serial
        if serial is None or serial == b'\0' * 8:
            return self.created
        return tidTime(serial)

    def retire(self) -> None:
        self.retired = True
        # Conflicts with a step its writer takes at the same time.
        self.state.retired = True

    def __repr__(self):
        return f'<Lane {self.key:x}>'


class LaneState(Versioned):
    """What every step of a lane's writer changes: its counts of each
    status (in COUNTED's order), the stamp of its last entry, and (minute,
    completed, cancelled, error) of the jobs it finished in the last minute
    it finished some.

    Every step writes it, so it is stored as one string of packed ints
    rather than as a dozen objects each pickled on its own.
    """

    _stateVersion = 2
    _migrations = {0: dict, 1: lambda state: _packedFromVersion1(state)}

    def __init__(self) -> None:
        self._initState()
        self.__dict__.update(_UNPACKED)

    def __getstate__(self):
        return {'_stateVersion': self._stateVersion,
                'packed': _pack(self.retired, self.stamp, self.counts,
                                self.minute)}

    def __setstate__(self, state):
        super().__setstate__(state)
        values = _PACKED.unpack(self.__dict__.pop('packed'))
        counts = values[2:2 + len(COUNTED)]
        minute = values[2 + len(COUNTED):]
        self.__dict__.update(
            retired=values[0], stamp=values[1],
            counts=counts if any(counts) else (),
            minute=None if minute[0] == -1 else minute)


# retired, stamp, counts, then the minute (-1 for none) and its counts.
_PACKED = struct.Struct(f'<?q{len(COUNTED)}q{1 + len(FINISHED)}q')
_UNPACKED = {'retired': False, 'stamp': 0, 'counts': (), 'minute': None}


def _packedFromVersion1(state):
    """Version 1 kept each of the counters as an attribute of its own."""
    return {'packed': _pack(**{name: state.get(name, default)
                               for name, default in _UNPACKED.items()})}


def _pack(retired, stamp, counts, minute):
    return _PACKED.pack(retired, stamp, *(counts or _ZEROS),
                        *(minute or (-1,) + (0,) * len(FINISHED)))


class ActivityLog(Versioned):
    """The jobs one writer finished in each of the last ACTIVITY_MINUTES
    minutes but the current one (see `Lane.finished`): written once a
    minute at most."""

    def __init__(self) -> None:
        self._initState()
        #: minute (epoch seconds // 60) -> counts in FINISHED's order
        self.minutes = {}

    def add(self, minute: tuple, now: int) -> None:
        minutes = {m: counts for m, counts in self.minutes.items()
                   if m > now - ACTIVITY_MINUTES}
        if minute[0] > now - ACTIVITY_MINUTES:
            minutes[minute[0]] = minute[1:]
        self.minutes = minutes


class Lanes(Versioned):
    """The lanes of a service, by key, and the counts of retired ones."""

    def __init__(self) -> None:
        self._initState()
        self._lanes = {}
        #: When the service was made, in the milliseconds of stamps: stamps
        #: count from it.
        self.epoch = _milliseconds(newTid(None))
        #: Lanes retired while jobs they made remain, for listings.
        self._retired = {}
        self.retiredCounts = {}

    def _p_resolveConflict(self, old, committed, new):
        # Writers add lanes under random keys, processors retire idle ones.
        return dict(
            new,
            _lanes=mergeMapping(old['_lanes'], committed['_lanes'],
                                new['_lanes'], 'lane'),
            _retired=mergeMapping(old['_retired'], committed['_retired'],
                                  new['_retired'], 'retired lane'),
            retiredCounts=mergeCounts(old['retiredCounts'],
                                      committed['retiredCounts'],
                                      new['retiredCounts']))

    def get(self, key) -> Optional[Lane]:
        return self._lanes.get(key)

    def __iter__(self) -> Iterator[Lane]:
        return iter(list(self._lanes.values()))

    def __len__(self) -> int:
        return len(self._lanes)

    def add(self) -> Lane:
        while True:
            key = random.getrandbits(62)
            if key not in self._lanes:
                break
        lane = Lane(key)
        self._lanes = {**self._lanes, key: lane}
        return lane

    def counts(self) -> Dict[str, int]:
        """How many jobs have each status: the lanes' counts added up."""
        total = dict(self.retiredCounts)
        for lane in self._lanes.values():
            for status, count in lane.counts.items():
                total[status] = total.get(status, 0) + count
        return {status: count for status, count in total.items() if count}

    def activity(self, now: float, minutes: int = ACTIVITY_MINUTES) -> list:
        """[(minute start, {status: count})] of the jobs finished in each of
        the last `minutes` minutes, oldest first."""
        last = int(now // 60)
        total = {minute: {} for minute in range(last - minutes + 1, last + 1)}
        for lane in self._lanes.values():
            for minute, counts in lane.minutes().items():
                if minute in total:
                    for status, count in counts.items():
                        total[minute][status] = \
                            total[minute].get(status, 0) + count
        return [(minute * 60, counts) for minute, counts in total.items()]

    def retireIdle(self, now: float, idle: float = IDLE_LANE_TIME) -> list:
        """Retire lanes whose chains are empty and whose writer left them
        alone for `idle` seconds: their counts are kept here.  Return the
        lanes retired."""
        retired = [lane for lane in self._lanes.values()
                   if now - lane.lastWritten() >= idle and lane.isEmpty()]
        if not retired:
            return []
        total = dict(self.retiredCounts)
        for lane in retired:
            for status, count in lane.counts.items():
                total[status] = total.get(status, 0) + count
            lane.retire()
            lane.state.counts = ()
        self.retiredCounts = {s: c for s, c in total.items() if c}
        self._lanes = {key: lane for key, lane in self._lanes.items()
                       if not lane.retired}
        keep = {key: lane for key, lane in self._retired.items()
                if lane.block is not None}
        keep.update((lane.key, lane) for lane in retired)
        if keep != self._retired:
            self._retired = keep
        return retired

    def withJobs(self) -> list:
        """Every lane whose writer made jobs that may remain: the lanes,
        and those retired."""
        return list(self._lanes.values()) + list(self._retired.values())


#: Where a connection keeps {service oid: the key of its lane}: on the
#: connection itself, which one thread uses at a time, and not on the
#: service object, which the connection's cache may turn into a ghost at
#: any commit (and which then loses what is not stored).
_KEYS = '_lovely_remotetask_lanes'


def ownLane(service) -> Lane:
    """The lane of the connection the service was loaded through.

    A transaction that made a lane and aborted makes another one next
    time; the one left behind was never stored.
    """
    lanes = service._lanes
    jar = service._p_jar
    if jar is None:     # in no database yet: a volatile attribute will do
        key = getattr(service, '_v_laneKey', None)
    else:
        keys = jar.__dict__.get(_KEYS)
        if keys is None:
            keys = jar.__dict__[_KEYS] = {}
        key = keys.get(service._p_oid)
    lane = lanes.get(key) if key is not None else None
    if lane is None or lane.retired:
        lane = lanes.add()
        if jar is None:
            service._v_laneKey = lane.key
        else:
            keys[service._p_oid] = lane.key
    return lane
