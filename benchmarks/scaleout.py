"""Throughput of 1, 2 and 4 worker processes over one ZEO server.

Once the workers (``remotetask worker`` processes) run, I/O-bound jobs
(each waits 20 ms) are added in one transaction, and the workers drain
them.  For each count of workers: jobs per second from that commit to the
last completion,
the ratio to one worker, and how many jobs needed more than one attempt
(a conflict that cost a run) and how many outcomes had to be recorded
again (a conflict that did not).

Run by hand:  .venv/bin/python benchmarks/scaleout.py [--jobs 600]
"""
import argparse
import glob
import os
import socket
import subprocess
import sys
import tempfile
import time

import transaction

from lovely import remotetask

HERE = os.path.dirname(os.path.abspath(__file__))


def freePort():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def waitFor(condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f'gave up after {timeout} s')
        time.sleep(0.05)


def accepts(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
        return True
    except OSError:
        return False


def run(workers, jobs, directory):
    port = freePort()
    logs = os.path.join(directory, f'w{workers}')
    os.makedirs(logs)
    server = subprocess.Popen(
        [sys.executable, '-m', 'ZEO.runzeo', '-a', f'127.0.0.1:{port}',
         '-f', os.path.join(logs, 'Data.fs')],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes = []
    try:
        waitFor(lambda: accepts(port), 30)
        uri = f'zeo://127.0.0.1:{port}'
        db = remotetask.openDatabase(uri)
        tm = transaction.TransactionManager()
        connection = db.open(transaction_manager=tm)
        root = remotetask.getApplicationRoot(connection, create=True)
        service = root['svc'] = remotetask.TaskService()
        tm.commit()
        env = dict(os.environ, PYTHONPATH=HERE)
        for n in range(workers):
            log = open(os.path.join(logs, f'worker{n}.log'), 'wb')
            processes.append(subprocess.Popen(
                [sys.executable, '-m', 'lovely.remotetask', 'worker',
                 '--db', uri, '--services', '@svc', '--tasks', 'benchtasks',
                 '--wait-time', '0.05'],
                stdout=log, stderr=subprocess.STDOUT, env=env))

        def registered():
            tm.begin()
            return len(service.getWorkers()) == workers
        waitFor(registered, 60)   # timing starts once all workers run
        ids = [service.add('sleep20', n) for n in range(jobs)]
        tm.commit()
        started = time.perf_counter()

        def done():
            # Read counters only, so that watching costs the server little.
            tm.begin()
            return service.statusCounts()['completed'] == jobs
        waitFor(done, 600)
        elapsed = time.perf_counter() - started
        reruns = sum(service.jobs[j].attempts > 1 for j in ids)
        tm.abort()
        connection.close()
        db.close()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(60)
        server.terminate()
        server.wait(30)
    rerecorded = 0
    for path in glob.glob(os.path.join(logs, 'worker*.log')):
        with open(path, errors='replace') as f:
            rerecorded += f.read().count('recording its result conflicted')
    return jobs / elapsed, reruns, rerecorded


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--jobs', type=int, default=600)
    parser.add_argument('--workers', default='1,2,4')
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    import benchtasks  # noqa: F401  (registers the tasks here too)
    counts = [int(n) for n in args.workers.split(',')]
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for workers in counts:
            results[workers] = run(workers, args.jobs, directory)
    base = results[counts[0]][0]
    print(f'{args.jobs} jobs of 20 ms over ZEO')
    print(f'{"workers":>8}{"jobs/s":>10}{"ratio":>8}{"re-run":>8}'
          f'{"re-recorded":>13}')
    for workers in counts:
        rate, reruns, rerecorded = results[workers]
        print(f'{workers:>8}{rate:>10.1f}{rate / base:>8.2f}'
              f'{reruns:>8}{rerecorded:>13}')


if __name__ == '__main__':
    main()
