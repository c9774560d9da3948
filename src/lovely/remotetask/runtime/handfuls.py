"""What a processor loop needs to take tiny jobs by the handful: how long
tasks take (to claim as many as run within the record window), and the
outcomes waiting to be recorded together."""
import time

from lovely.remotetask.runtime.attempt import Outcome


class Average:
    """An exponential moving average of task run times."""

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self.average = None

    def add(self, value: float) -> None:
        self.average = value if self.average is None else (
            self.weight * value + (1 - self.weight) * self.average)


class Pending:
    """Outcomes waiting to be recorded together, and since when."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.outcomes = []
        self.since = 0.0

    def add(self, outcome: Outcome, started: float) -> None:
        if not self.outcomes:
            self.since = started
        self.outcomes.append(outcome)

    def due(self) -> bool:
        return bool(self.outcomes) and \
            time.monotonic() - self.since >= self.window

    def take(self) -> list:
        outcomes, self.outcomes = self.outcomes, []
        return outcomes
