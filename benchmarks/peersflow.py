"""W7 fan-in and W8 one queue limited to K at once, for ``peers.py``
(issues 27 and 28).

Both are measured from the tasks themselves: each job (``benchtasks.span``
and ``gather``) appends '<kind> <n> <started> <ended>' to the file named
by ``BENCH_SPANS``, which every system's workers inherit, so that the
figures of every system come from the same clock and the same code.

W7 fan-in  N siblings of 2 ms and one callback that waits for all of them,
           added by one producer, run by one worker (us: ``service.add(
           'gather', input, after=siblingIds)``, in the same transaction as
           the siblings, SimpleProcessor thread; Celery: ``chord(group(
           ...), gather.s())``, solo pool; huey 3.x: ``enqueue(chord(
           [...], gather.s()))``, one consumer thread; RQ: ``enqueue_many``
           then ``enqueue(gather, depends_on=siblingJobs)``, one
           SimpleWorker; Procrastinate and Oban's free edition: n/a).
           Figures: the time from the first add to the callback's end, and
           the barrier's delay (the callback's start less the last
           sibling's end); checked: the callback ran once, after every
           sibling.
W8 limited  500 jobs of 20 ms in one queue limited to K=2 at once, two
           worker processes.  Us: ``setQueueLimit('bench', 2)`` with two
           worker processes of 4 threads each over ZEO (so that the queue's
           limit, not the workers, holds them to 2).  The peers have no
           global limit: their workers' own concurrency is the tool, one job
           at a time in each of 2 processes (Celery: two solo-pool workers,
           as ``-c 1``; RQ: ``worker-pool -n 2`` SimpleWorkers;
           Procrastinate: two workers of ``--concurrency 1``; Oban: two
           nodes of ``--queues bench:1``, its limit per node; huey: one
           consumer of 2 threads, in this process).  Figures: the
           most that ran at once and the throughput against K / 20 ms.
"""
import os
import subprocess
import sys
import time

import benchtasks
from benchkit import RunError, stopProcess

HERE = os.path.dirname(os.path.abspath(__file__))
SIBLING_WORK = 0.002    # W7: seconds of each sibling and of the callback
LIMITED_WORK = 0.020    # W8: seconds of each limited job
QUEUE = 'bench'

#: What a peer offers where it does not run the workload, by workload.
NOT_OFFERED = {
    'W7': {
        'procrastinate': 'n/a: no job dependencies or callbacks '
                         '(locks and queueing locks only serialise)',
        'oban': 'n/a: fan-in is Oban Pro Workflow, not in the free '
                'Python edition'},
    'W8': {}}


def limitedLabel(system, k):
    """W8's label: how each peer holds the queue to K."""
    if system.key.startswith('huey'):
        return (f'{system.key}: 1 consumer of {k} threads (-w {k}: a '
                f'per-consumer limit)')
    if system.key == 'oban':
        return f'oban: {k} nodes of --queues bench:1 (a per-node limit)'
    return (f'{system.key}: {k} worker processes, 1 job at a time each '
            f'(a per-worker limit)')


def readSpans(path):
    """The spans the jobs wrote: (kind, n, started, ended)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(kind, n, float(a), float(b)) for kind, n, a, b in
                (line.split() for line in f if line.endswith('\n'))]


def waitSpans(path, count, timeout, system):
    deadline = time.monotonic() + timeout
    while len(readSpans(path)) < count:
        if time.monotonic() > deadline:
            raise RunError(f'{len(readSpans(path))} of {count} jobs ran '
                           f'after {timeout:.0f} s')
        if system.key in ('rq', 'procrastinate', 'oban'):
            system.countDone([], 0)     # raises on failed jobs
        time.sleep(0.02)


def mostAtOnce(spans):
    events = sorted([(a, 1) for _, _, a, _ in spans] +
                    [(b, -1) for _, _, _, b in spans])
    most = running = 0
    for _, step in events:      # at equal times ends (-1) come first
        running += step
        most = max(most, running)
    return most


def spansFile(system, workload):
    path = os.path.join(system.tmp, f'spans-{workload}-{system.key}-'
                        f'{time.monotonic_ns()}.log')
    os.environ[benchtasks.SPANS] = path     # the workers inherit it
    return path


# ---------------------------------------------------------------------------
# W7 fan-in: one adder per system.


def fanInOurs(system, items, last):
    service = system.service
    ids = [service.add('span', item) for item in items]
    service.add('gather', last, after=ids)
    system.tm.commit()


def fanInRQ(system, items, last):
    queue = system.queue
    jobs = queue.enqueue_many([system.Queue.prepare_data(
        benchtasks.span, (item,)) for item in items])
    queue.enqueue(benchtasks.gather, last, depends_on=jobs)


def fanInCelery(system, items, last):
    from celery import chord, group
    tasks = system.app.tasks
    chord(group([tasks['span'].s(item) for item in items]),
          tasks['gather'].s(last)).apply_async()


def fanInHuey(system, items, last):
    from huey import chord
    h = system.producerHuey
    h.enqueue(chord([h.benchTasks['span'].s(item) for item in items],
                    h.benchTasks['gather'].s(last)))


FAN_IN = {'us': fanInOurs, 'rq': fanInRQ, 'celery': fanInCelery,
          'huey': fanInHuey, 'huey-fsync': fanInHuey}


def runFanIn(system, row, n):
    items = [dict(n=i, work=SIBLING_WORK) for i in range(n)]
    path = spansFile(system, 'W7')
    try:
        system.open(1, 'span')
        t0 = time.time()
        FAN_IN[system.key](system, items, dict(n=n, work=SIBLING_WORK))
        waitSpans(path, n + 1, 60 + n * 0.05, system)
        time.sleep(1.0)     # a grace in which a second callback would show
        spans = readSpans(path)
    finally:
        system.close()
    siblings = [s for s in spans if s[0] == 'span']
    gathers = [s for s in spans if s[0] == 'gather']
    if not gathers:
        raise RunError(f'the callback did not run ({len(siblings)} '
                       f'sibling spans)')
    lastEnd = max(s[3] for s in siblings)
    total = gathers[0][3] - t0
    row.rate = (n + 1) / total
    row.barrier = gathers[0][2] - lastEnd
    row.notes.append(f'callback ended {total:.2f} s after the first add; '
                     f'started {row.barrier * 1e3:.1f} ms after the last '
                     f'sibling ended')
    row.ok = (len(gathers) == 1 and len(siblings) == n
              and len({s[1] for s in siblings}) == n and row.barrier >= 0)
    row.checked = (f'callback ran once, after all {n}' if row.ok else
                   f'FAILED: {len(gathers)} callback run(s), '
                   f'{len(siblings)} sibling spans, barrier '
                   f'{row.barrier * 1e3:.1f} ms')


# ---------------------------------------------------------------------------
# W8 one queue limited to K at once.


def limitedOurs(system, items, k):
    system.service.setQueueLimit(QUEUE, k)
    for item in items:
        system.service.add('span', item, queue=QUEUE)
    system.tm.commit()


def limitedRQ(system, items, k):
    system.queue.enqueue_many([system.Queue.prepare_data(
        benchtasks.span, (item,)) for item in items])


def limitedCelery(system, items, k):
    from celery import group
    group([system.app.tasks['span'].s(item) for item in items]).apply_async()


def limitedProcrastinate(system, items, k):
    system.app.tasks['span'].batch_defer(*[{'input': item}
                                           for item in items])


def limitedHuey(system, items, k):
    system.producerHuey.benchTasks['span'].map([(item,) for item in items])


def limitedOban(system, items, k):
    system.loop.run(system.client.enqueue_many(
        [system.worker.new({'input': item}) for item in items]))


LIMITED = {'us': limitedOurs, 'rq': limitedRQ, 'celery': limitedCelery,
           'procrastinate': limitedProcrastinate, 'oban': limitedOban,
           'huey': limitedHuey, 'huey-fsync': limitedHuey}
#: The peers whose `open(1)` starts one worker process running one job at
#: a time, to which W8 adds K - 1 more.
ONE_BY_ONE = ('celery', 'procrastinate', 'oban')


def secondWorker(system, k):
    """The peers whose `open(1)` starts one worker of concurrency 1: start
    the other K - 1, alike, and wait until they are up."""
    if system.key not in ONE_BY_ONE or k == 1:
        return []
    processes = []
    for i in range(1, k):
        log = open(os.path.join(system.tmp, f'{system.key}-extra{i}.log'),
                   'w')
        if system.key == 'celery':
            args = ['-m', 'celery', '-A', 'benchcelery', 'worker',
                    '--queues', QUEUE, '--loglevel', 'WARNING', '--pool',
                    'solo', '--hostname', f'extra{i}-{system.runs}@%h']
        elif system.key == 'oban':
            args = ['-m', 'oban', 'start', '--dsn', system.conninfo,
                    '--queues', f'{QUEUE}:1', '--log-level', 'warning']
        else:
            args = ['-m', 'procrastinate', '--app', 'benchprocrastinate.app',
                    'worker', '--queues', QUEUE, '--concurrency', '1']
        env = dict(os.environ, PYTHONPATH=HERE)
        if system.key == 'procrastinate':
            env[system.module.DSN] = system.conninfo
        processes.append(subprocess.Popen([sys.executable] + args, env=env,
                                          stdout=log,
                                          stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 60
    while workersUp(system) < k:
        if time.monotonic() > deadline:
            raise RunError(f'{system.key}: {k} workers did not start')
        time.sleep(0.1)
    return processes


def workersUp(system):
    if system.key == 'celery':
        return len(system.app.control.ping(timeout=0.5) or [])
    if system.key == 'oban':
        return system.conn.execute(
            'select count(*) from oban_producers where queue = %s',
            (QUEUE,)).fetchone()[0]
    return system.conn.execute(
        'select count(*) from procrastinate_workers').fetchone()[0]


def runLimited(system, row, n, k):
    items = [dict(n=i, work=LIMITED_WORK) for i in range(n)]
    path = spansFile(system, 'W8')
    extra = []
    try:
        # Ours: K worker processes (of 4 threads, see ``workerArgs``); RQ:
        # a pool of K; Celery, Procrastinate and Oban: one, then K - 1.
        system.open(1 if system.key in ONE_BY_ONE else k,
                    'span')
        extra = secondWorker(system, k)
        t0 = time.time()
        LIMITED[system.key](system, items, k)
        waitSpans(path, n, 60 + n * LIMITED_WORK * 4, system)
        spans = readSpans(path)
    finally:
        for process in extra:
            stopProcess(process)
        system.close()
    total = max(s[3] for s in spans) - t0
    row.rate = n / total
    row.most = mostAtOnce(spans)
    ideal = k / LIMITED_WORK
    row.notes.append(f'all ran {total:.2f} s after the first add; '
                     f'{row.rate / ideal:.0%} of the ideal {ideal:.0f} '
                     f'jobs/s; at most {row.most} at once')
    row.ok = len(spans) == n and len({s[1] for s in spans}) == n \
        and row.most <= k
    row.checked = (f'all {n} ran, at most {row.most} at once' if row.ok
                   else f'FAILED: {len(spans)} spans, at most {row.most} '
                   f'at once (limit {k})')
