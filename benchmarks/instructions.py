"""How many CPU instructions does a job cost? Counted, not timed.

A hand-run benchmark, not a test::

    .venv/bin/python benchmarks/instructions.py [--jobs 1000] [--compare SRC ...]

Timings on these shared machines vary by a third from run to run, which
hides a 10 % change in what a job costs.  Instructions counted by valgrind's
callgrind do not: the same program on the same input counts the same to
within 0.2 %, whatever else the machine is doing.  So each workload runs in
a child process under callgrind, once with its measured part and once
without (the setup alone), and the difference divided by ``--jobs`` is what
one job costs:

- adds:  ``service.add('echo', {...})`` and a commit, one job a commit,
  into a FileStorage (the producer's side of a trickle);
- drain: ``SimpleProcessor`` claiming, running and recording ``--jobs``
  queued echo jobs, by handfuls of 20 recorded with the next claim (as a
  burst drains), until the queue is empty;
- chain: the same processor running a workflow of ``--jobs`` echo steps,
  each waiting for the one before (issue 27): one step a claim, since
  the next is released by the outcome of the one before.  Not counted
  for ``--compare`` sources older than workflows.

In the drain the processor's handful and record window are fixed and its
lease keeper does not run, since all three follow the clock, which runs
some 50 times slower under callgrind; everything else is the processor's
own loop.  Python instructions count, not the time fsync and the disk
take: compare with ``latency.py`` and ``peers.py`` for those.

``--compare SRC`` also counts the same for the lovely.remotetask source in
the directory SRC (for instance a ``git worktree`` of an older commit),
for ratios measured side by side.
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ('adds', 'drain', 'chain')
HANDFUL = 20


def child(workload, jobs, measured):
    """The workload, in this process (run under callgrind by `count`)."""
    import transaction
    from ZODB import DB
    from ZODB.FileStorage import FileStorage

    import lovely.remotetask
    from lovely.remotetask import (
        SimpleProcessor, TaskService, getApplicationRoot)
    Workflow = getattr(lovely.remotetask, 'Workflow', None)

    lovely.remotetask.provideTask(lambda input: input, name='echo')
    with tempfile.TemporaryDirectory() as tmp:
        db = DB(FileStorage(os.path.join(tmp, 'Data.fs')))
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
        service = getApplicationRoot(conn, create=True)['svc'] = \
            TaskService()
        tm.commit()
        if workload == 'adds':
            for i in range(20):     # past the first block and segment
                service.add('echo', {'n': i, 'pad': 'x' * 20})
                tm.commit()
            if measured:
                for i in range(jobs):
                    service.add('echo', {'n': i, 'pad': 'x' * 20})
                    tm.commit()
        else:
            if workload == 'chain':
                workflow = Workflow('chain')
                workflow.chain(*[(f'step{i}', 'echo',
                                  {'n': i, 'pad': 'x' * 20})
                                 for i in range(jobs)])
                service.addWorkflow(workflow)
            else:
                for i in range(jobs):
                    service.add('echo', {'n': i, 'pad': 'x' * 20})
            tm.commit()
            if measured:
                drain(db, service, SimpleProcessor)
                tm.begin()
                assert service.queueLength() == 0, 'jobs left queued'
                assert service.statusCounts().get('completed') == jobs, \
                    f'jobs not completed: {service.statusCounts()}'
        conn.close()
        db.close()


def drain(db, service, SimpleProcessor):
    """Run a processor in this thread until the queue is empty."""
    processor = SimpleProcessor(db, service._p_oid, waitTime=0.05)
    cls = type(processor)
    module = vars(sys.modules[cls.__module__])
    # Sources before lanes kept the lease keeper in the processor's module.
    keeper = module.get('LeaseKeeper') or module['_LeaseKeeper']
    keeper.run = lambda self: self.stopping.wait()
    # (Sources before 0585911 named it _batchSize.)
    cls._handfulSize = cls._batchSize = lambda self: HANDFUL
    cls.recordWindow = 1e6          # outcomes go with the next claim
    cls._idleWait = lambda self, *args: self.stop()
    processor()


def count(source, workload, jobs, measured):
    """Instructions callgrind counted for one child run."""
    env = dict(os.environ)
    if source is not None:
        env['PYTHONPATH'] = source
    command = ['valgrind', '--tool=callgrind', '--callgrind-out-file=/dev/null',
               sys.executable, os.path.abspath(__file__), '--child',
               workload, str(jobs), 'measured' if measured else 'setup']
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    found = re.search(r'Collected : (\d+)', done.stderr)
    if done.returncode or not found:
        raise SystemExit(f'{workload} under callgrind failed:\n'
                         f'{done.stderr[-3000:]}')
    return int(found.group(1))


def perJob(source, workload, jobs, pool):
    with_, without = pool.map(
        lambda measured: count(source, workload, jobs, measured),
        (True, False))
    return (with_ - without) / jobs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--jobs', type=int, default=1000)
    parser.add_argument('--compare', action='append', default=[],
                        metavar='SRC', help='another lovely.remotetask '
                        'source directory (holding lovely/remotetask)')
    parser.add_argument('--only', default=','.join(WORKLOADS))
    parser.add_argument('--child', nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload, jobs, phase = args.child
        child(workload, int(jobs), phase == 'measured')
        return
    sys.path.insert(0, HERE)
    from backlog import sourceVersion
    print(f'lovely.remotetask instructions per job, '
          f'{time.strftime("%Y-%m-%d")}, Python {platform.python_version()}'
          f', {os.cpu_count()} CPUs, {platform.system()} '
          f'{platform.machine()}')
    print(f'source: {sourceVersion()}')
    sources = [('this source', None)] + [(path, path)
                                         for path in args.compare]
    workloads = args.only.split(',')
    started = time.monotonic()
    results = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for label, source in sources:
            for workload in workloads:
                if workload == 'chain' and source is not None and not \
                        os.path.exists(os.path.join(
                            source, 'lovely/remotetask/service/workflows.py')):
                    continue
                results[label, workload] = perJob(source, workload,
                                                  args.jobs, pool)
                print(f'  {label}: {workload} '
                      f'{results[label, workload]:,.0f} instructions a job',
                      flush=True)
    print(f'\n{"workload":8}  ' + '  '.join(
        f'{label[-24:]:>24}' for label, _ in sources) + '  ratio')
    for workload in workloads:
        base = results['this source', workload]
        found = [results.get((label, workload)) for label, _ in sources]
        cells = '  '.join('-'.rjust(24) if value is None else
                          f'{value:>24,.0f}' for value in found)
        ratios = ' '.join('-' if value is None else f'{base / value:.2f}x'
                          for value in found[1:])
        print(f'{workload:8}  {cells}  {ratios}')
    print(f'({args.jobs:,} jobs; ratio: this source / the other; total run '
          f'time {time.monotonic() - started:.0f} s)')


if __name__ == '__main__':
    main()
