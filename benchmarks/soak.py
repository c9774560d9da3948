"""Does a busy job database stay bounded on disk, and what does packing
cost?

A hand-run benchmark, not a test; a run at full scale takes about 25
minutes::

    .venv/bin/python benchmarks/soak.py [--jobs 500000] [--keep 120]
        [--pack-every 30] [--pack-keep 10] [--only off,on]

A FileStorage in a temporary directory holds a `TaskService` in the
application root, processed by ``service.startProcessing()`` (a
SimpleProcessor, a thread of this process; its lease keeper beats every
quarter of ``--lease``, 15 seconds by default).  The main thread adds
``--jobs`` echo jobs, one per transaction, as fast as it can while the
processor runs them (a trickle, as W1 of benchmarks/peers.py), holding
back while more than ``--backlog`` wait.
Finished jobs are kept ``--keep`` seconds (``keepFinished``).  The same
run is made twice on fresh databases:

off  no packs (``packEvery`` None): what a database without packing does;
on   ``packEvery = --pack-every``, ``packKeep = --pack-keep``: the lease
     keeper packs in a thread of its own, after removing the finished
     jobs past their retention.

Every ``--sample`` seconds a thread notes the size of ``Data.fs`` (and of
``Data.fs.old``, the copy a pack leaves until the next one), the jobs
completed, and the finished jobs the service keeps.  The processor's
``JobCompleted`` events time each completion, and each add is timed, so
that the pause a pack causes shows: throughput and the longest gap between
two completions while a pack runs, against the rest of the time.

The bound: the largest size of ``Data.fs`` against the live data, the size
right after a pack (median), which holds the jobs within their retention.
"""
import argparse
import bisect
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time

import transaction
import zope.component
import zope.event
from ZODB import DB
from ZODB.FileStorage import FileStorage

import lovely.remotetask
from lovely.remotetask import TaskService, getApplicationRoot
from lovely.remotetask import testing
from lovely.remotetask.defaults import PACK_KEEP_MIN
from lovely.remotetask.events import JobCompleted
from lovely.remotetask.interfaces import FINISHED

# A sibling script, found as the script's directory is on sys.path.
from backlog import sourceVersion


def say(*args):
    print(*args, flush=True)


def mb(size):
    return f'{size / 1e6:,.1f} MB'


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] \
        if ordered else float('nan')


class PackLog(logging.Handler):
    """The packs the lease keeper ran: (start, end) on the monotonic clock,
    and their sizes."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.packs = []
        self.problems = []
        logger = logging.getLogger('lovely.remotetask')
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        logger.propagate = False

    def emit(self, record):
        message = record.getMessage()
        if message.startswith('database packed in'):
            seconds, before, after = record.args[:3]
            end = time.monotonic() - (time.time() - record.created)
            self.packs.append(dict(start=end - seconds, end=end,
                                   seconds=seconds, before=before,
                                   after=after))
        elif record.levelno >= logging.WARNING:
            self.problems.append(message)

    def close(self):
        logging.getLogger('lovely.remotetask').removeHandler(self)
        super().close()


class Sampler(threading.Thread):
    """Notes sizes and counts every `interval` seconds."""

    def __init__(self, db, path, oid, interval, started):
        super().__init__(daemon=True)
        self.db, self.path, self.oid = db, path, oid
        self.interval, self.started = interval, started
        self.samples = []
        self.stopping = threading.Event()

    def run(self):
        tm = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=tm)
        try:
            while True:
                tm.begin()
                counts = connection.get(self.oid).statusCounts()
                tm.abort()
                old = self.path + '.old'
                self.samples.append(dict(
                    t=time.monotonic() - self.started,
                    size=os.path.getsize(self.path),
                    old=os.path.getsize(old) if os.path.exists(old) else 0,
                    kept=sum(counts.get(status, 0) for status in FINISHED),
                    waiting=counts.get('queued', 0)))
                if self.stopping.wait(self.interval):
                    return
        finally:
            connection.close()


def soak(mode, args):
    directory = tempfile.mkdtemp(prefix=f'soak-{mode}-')
    path = os.path.join(directory, 'Data.fs')
    db = DB(FileStorage(path))
    completions = []
    record = completions.append

    def completed(event):
        if isinstance(event, JobCompleted):
            record(time.monotonic())

    zope.event.subscribers.append(completed)
    packLog = PackLog()
    try:
        tm = transaction.TransactionManager()
        connection = db.open(transaction_manager=tm)
        root = getApplicationRoot(connection, create=True)
        root['svc'] = service = TaskService()
        service.keepFinished = args.keep
        if mode == 'on':
            service.packEvery = args.pack_every
            service.packKeep = args.pack_keep
        tm.commit()
        service.startProcessing(leaseTime=args.lease)
        started = time.monotonic()
        sampler = Sampler(db, path, service._p_oid, args.sample, started)
        sampler.start()
        adds = []           # (when, seconds) of each add + commit
        lastReport = started
        for n in range(args.jobs):
            if n % 100 == 0:
                while service.queueLength() > args.backlog:
                    time.sleep(0.005)
                    tm.begin()
            before = time.monotonic()
            service.add('echo', n)
            tm.commit()
            after = time.monotonic()
            adds.append((before, after - before))
            if after - lastReport >= args.report:
                lastReport = after
                progress(mode, sampler, completions, started, after)

        def allDone():
            return len(completions) >= args.jobs

        testing.waitUntil(allDone, timeout=3600, interval=0.05)
        ended = time.monotonic()
        service.stopProcessing(wait=None)   # waits for a pack it runs
        sampler.stopping.set()
        sampler.join()
        connection.close()
        return dict(mode=mode, started=started, ended=ended,
                    completions=completions, adds=adds,
                    samples=sampler.samples, packs=packLog.packs,
                    problems=packLog.problems,
                    finalSize=os.path.getsize(path))
    finally:
        zope.event.subscribers.remove(completed)
        packLog.close()
        db.close()
        shutil.rmtree(directory, ignore_errors=True)


def progress(mode, sampler, completions, started, now):
    sample = sampler.samples[-1] if sampler.samples else None
    if sample is None:
        return
    say(f'  {mode} {now - started:6.0f} s  {len(completions):>9,} done  '
        f'Data.fs {mb(sample["size"]):>10}  .old {mb(sample["old"]):>10}  '
        f'finished kept {sample["kept"]:>8,}  waiting {sample["waiting"]:>6,}')


def during(packs, moment):
    """Whether `moment` falls within one of `packs`."""
    starts = [pack['start'] for pack in packs]
    index = bisect.bisect_right(starts, moment) - 1
    return index >= 0 and moment <= packs[index]['end']


def analyse(result):
    packs = result['packs']
    done = result['completions']
    elapsed = result['ended'] - result['started']
    inPack = [t for t in done if during(packs, t)]
    packTime = sum(min(p['end'], result['ended']) - p['start']
                   for p in packs)
    gapsIn, gapsOut = [], []
    for before, after in zip(done, done[1:]):
        (gapsIn if during(packs, after) else gapsOut).append(after - before)
    addsIn = [s for t, s in result['adds'] if during(packs, t)]
    addsOut = [s for t, s in result['adds'] if not during(packs, t)]
    samples = result['samples']
    live = statistics.median([p['after'] for p in packs]) if packs else None
    return dict(
        elapsed=elapsed, throughput=len(done) / elapsed,
        inPackRate=len(inPack) / packTime if packTime else None,
        outPackRate=(len(done) - len(inPack)) / (elapsed - packTime),
        packShare=packTime / elapsed,
        maxGapIn=max(gapsIn, default=None), maxGapOut=max(gapsOut),
        addsIn=addsIn, addsOut=addsOut,
        maxSize=max(s['size'] for s in samples),
        maxTotal=max(s['size'] + s['old'] for s in samples),
        maxKept=max(s['kept'] for s in samples), live=live)


def report(results, args):
    say()
    say('Timeline (size of Data.fs / .old, finished jobs kept), every '
        f'{args.timeline} s:')
    for result in results:
        say(f'  {result["mode"]}:')
        next = 0
        for sample in result['samples']:
            if sample['t'] >= next:
                next += args.timeline
                say(f'    {sample["t"]:6.0f} s  Data.fs '
                    f'{mb(sample["size"]):>10}  .old {mb(sample["old"]):>10}'
                    f'  kept {sample["kept"]:>8,}')
    analysed = {r['mode']: analyse(r) for r in results}
    say()
    rows = [
        ('jobs', lambda r, a: f'{len(r["completions"]):,}'),
        ('run time s', lambda r, a: f'{a["elapsed"]:,.0f}'),
        ('throughput jobs/s', lambda r, a: f'{a["throughput"]:,.0f}'),
        ('packs', lambda r, a: f'{len(r["packs"])}'),
        ('pack s (min/med/max)', lambda r, a: '/'.join(
            f'{x:.1f}' for x in _mmm([p['seconds'] for p in r['packs']]))
            if r['packs'] else '-'),
        ('share of time packing', lambda r, a: f'{a["packShare"]:.1%}'),
        ('jobs/s while packing', lambda r, a: '-' if a['inPackRate'] is None
            else f'{a["inPackRate"]:,.0f}'),
        ('jobs/s otherwise', lambda r, a: f'{a["outPackRate"]:,.0f}'),
        ('longest completion gap ms, packing',
         lambda r, a: '-' if a['maxGapIn'] is None
         else f'{a["maxGapIn"] * 1e3:,.0f}'),
        ('longest completion gap ms, otherwise',
         lambda r, a: f'{a["maxGapOut"] * 1e3:,.0f}'),
        ('add+commit p99 ms, packing',
         lambda r, a: f'{pct(a["addsIn"], 99) * 1e3:.1f}'
         if a['addsIn'] else '-'),
        ('add+commit p99 ms, otherwise',
         lambda r, a: f'{pct(a["addsOut"], 99) * 1e3:.1f}'),
        ('add+commit max ms, packing',
         lambda r, a: f'{max(a["addsIn"]) * 1e3:.0f}'
         if a['addsIn'] else '-'),
        ('add+commit max ms, otherwise',
         lambda r, a: f'{max(a["addsOut"]) * 1e3:.0f}'),
        ('largest Data.fs', lambda r, a: mb(a['maxSize'])),
        ('largest Data.fs + .old', lambda r, a: mb(a['maxTotal'])),
        ('Data.fs at the end', lambda r, a: mb(r['finalSize'])),
        ('live data (after a pack, median)',
         lambda r, a: '-' if a['live'] is None else mb(a['live'])),
        ('largest / live', lambda r, a: '-' if a['live'] is None
            else f'{a["maxSize"] / a["live"]:.1f}x'),
        ('most finished jobs kept', lambda r, a: f'{a["maxKept"]:,}'),
    ]
    width = max(len(name) for name, _ in rows)
    say(f'{"":<{width}}  ' + '  '.join(
        f'{"packing " + r["mode"]:>14}' for r in results))
    for name, cell in rows:
        say(f'{name:<{width}}  ' + '  '.join(
            f'{cell(r, analysed[r["mode"]]):>14}' for r in results))
    if 'off' in analysed and 'on' in analysed:
        cost = 1 - analysed['on']['throughput'] / \
            analysed['off']['throughput']
        say(f'throughput cost of packing: {cost:.1%}')
    for result in results:
        if result['problems']:
            say(f'{result["mode"]}: {len(result["problems"])} warnings or '
                f'errors logged, the first: {result["problems"][0]}')


def _mmm(values):
    return min(values), statistics.median(values), max(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=500_000)
    parser.add_argument('--keep', type=float, default=120.0,
                        help='keepFinished, seconds (default 120)')
    parser.add_argument('--pack-every', type=float, default=30.0,
                        help='packEvery, seconds (default 30)')
    parser.add_argument('--pack-keep', type=float, default=PACK_KEEP_MIN,
                        help='packKeep, seconds (default 10, the least)')
    parser.add_argument('--lease', type=float, default=60.0,
                        help='the processor\'s lease time: its lease keeper '
                        'beats, expires and looks for a due pack every '
                        'quarter of it (default 60)')
    parser.add_argument('--backlog', type=int, default=2000,
                        help='the most jobs waiting before adds hold back')
    parser.add_argument('--sample', type=float, default=2.0,
                        help='seconds between samples of the file size')
    parser.add_argument('--report', type=float, default=30.0,
                        help='seconds between progress lines')
    parser.add_argument('--timeline', type=float, default=30.0,
                        help='seconds between lines of the timeline')
    parser.add_argument('--only', default='off,on')
    args = parser.parse_args()
    modes = [m.strip() for m in args.only.split(',') if m.strip()]
    if not modes or set(modes) - {'off', 'on'}:
        parser.error('--only takes off, on or both')
    testing.setUp()
    zope.component.provideUtility(
        lovely.remotetask.SimpleTask(lambda input: input), name='echo')
    say(f'lovely.remotetask soak benchmark, {time.strftime("%Y-%m-%d")}, '
        f'Python {platform.python_version()}, {os.cpu_count()} CPUs, '
        f'{platform.system()} {platform.machine()}')
    say(f'source: {sourceVersion()}')
    say(f'{args.jobs:,} echo jobs, one per transaction, FileStorage; '
        f'keepFinished {args.keep:g} s; packing on: packEvery '
        f'{args.pack_every:g} s, packKeep {args.pack_keep:g} s')
    say(f'command: {" ".join([os.path.basename(sys.executable)] + sys.argv)}')
    results = []
    for mode in modes:
        say(f'packing {mode}:')
        results.append(soak(mode, args))
    report(results, args)


if __name__ == '__main__':
    main()
