"""The task of benchmarks/chaos.py, imported by its producers (to add jobs)
and by its workers (``remotetask worker --tasks chaostasks``).

Each run of the task works a while, asking now and then whether its job
was cancelled, then appends one line to the external log (its effect on
the world outside the database) and returns the line's token: the result
that the database keeps names the run whose outcome was committed.
"""
import os
import random
import time
import uuid

from lovely import remotetask
from lovely.remotetask.runtime import context

#: Where the effects go: set by chaos.py for every process it starts.
EFFECTS = os.environ.get('CHAOS_EFFECTS', 'chaos-effects.log')


def appendLine(path: str, line: str) -> None:
    """Append `line` to `path` in one write, on disk before it returns: a
    process killed after this still leaves the line."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@remotetask.provideTask(name='chaos')
def effect(input):
    """Work `input['work']` seconds; fail at random when `input['flaky']`
    (the job is tried again, or fails for good after its attempts); then
    leave the effect: '<job> <attempt> <worker> <pid> <run> <token>
    <started> <time>', where run is the due time of a cron job's run, else
    '-'.  The attempt and worker are the job's as this run read them: a
    run of a worker that no longer holds the job shows the holder's, and
    its own pid."""
    started = time.time()
    current = context.current()
    job = current.service.jobs[current.jobid]
    deadline = time.monotonic() + input.get('work', 0)
    while time.monotonic() < deadline:
        context.checkpoint()       # a cancelled job stops here
        time.sleep(0.01)
    if input.get('flaky') and random.random() < 0.5:
        raise ValueError('a flaky job failed this attempt')
    run = getattr(job, 'lastRun', None)
    token = uuid.uuid4().hex[:12]
    appendLine(EFFECTS, f'{current.jobid} {job.attempts} {job.worker} '
                        f'{os.getpid()} {"-" if run is None else run} '
                        f'{token} {started:.6f} {time.time():.6f}\n')
    return token


#: At most this many jobs of the limited task run at once, in all
#: processes (chaos.py checks it from the effects).
LIMIT = 2

#: The same work under a global concurrency limit.
remotetask.provideTask(effect, name='chaos-limited', concurrency=LIMIT)
