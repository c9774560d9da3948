"""When a processor drains the intake (see `Store.drain`).

Two drains at once conflict, so workers do not all drain at once: after a
claim, a worker drains when the moves since the last drain reach a length
set by its place among the workers (`drainAt`), so that the first in
place drains and the others only when it does not; and its lease keeper
drains only moves that stood still for a tick or more (the later its
place, the more), which no claim will drain.  The transactions of its
loops leave their moves to it (see `Station.service`).
"""
import threading

from lovely.remotetask.store.drainapart import drainAt


class Drainer:
    """The drains of one processor: one at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: The worker's place among the workers, as its last claim saw.
        self.place = 0
        self._last = None       # the moves undrained at the last tick
        self._still = 0         # ticks since they changed

    def afterClaim(self, station) -> None:
        """Drain at `station` when its claim saw enough moves undrained."""
        self.place = station.place
        if station.undrained >= drainAt(self.place):
            self._drain(station)

    def onTick(self, station) -> None:
        """Drain at `station` the moves that stood still long enough."""
        undrained = station.read(lambda service: service.undrained())
        self._still = self._still + 1 if undrained == self._last else 0
        self._last = undrained
        if undrained and self._still > min(self.place, 3):
            self._drain(station)

    def _drain(self, station) -> None:
        if self._lock.acquire(blocking=False):   # else another loop does
            try:
                station.drain()
            finally:
                self._lock.release()
