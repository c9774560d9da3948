"""How the cost of a processing pass depends on the number of cron jobs.

Two services on FileStorage in a temporary directory, one with 100 cron
jobs, one with 10,000; in each, 100 jobs run at five past the hour and the
others once a day at 23:00, after the hours the rounds go through.  Measured side by side, in alternating rounds:

- an idle pass: ``claimNextJob()`` and commit when no job is due;
- a busy pass: ``process()`` and commit when the 100 jobs are due.

Run by hand:  .venv/bin/python benchmarks/cron.py
"""
import argparse
import calendar
import os
import statistics
import tempfile
import time

import transaction
from ZODB import DB
from ZODB.FileStorage import FileStorage

from lovely import remotetask

START = calendar.timegm((2026, 1, 1, 0, 0, 0))


def makeService(directory, name, jobs):
    db = DB(FileStorage(os.path.join(directory, f'{name}.fs')))
    connection = db.open()
    service = connection.root()['service'] = remotetask.TaskService()
    for n in range(jobs):
        service.addCronJob(
            'noop', cron='5 * * * *' if n < 100 else f'{n % 60} 23 * * *')
        if n % 1000 == 999:
            transaction.commit()
    service.claimNextJob(now=START)          # schedules them all
    transaction.commit()
    return db, connection, service


def timed(action):
    started = time.perf_counter()
    action()
    transaction.commit()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=20,
                        help='hours to go through, at most 23')
    parser.add_argument('--many', type=int, default=10_000)
    args = parser.parse_args()
    remotetask.provideTask(lambda input: None, name='noop')
    with tempfile.TemporaryDirectory() as directory:
        sizes = {'100 jobs': 100, f'{args.many:,} jobs': args.many}
        services = {label: makeService(directory, label.split()[0], n)
                    for label, n in sizes.items()}
        idle = {label: [] for label in sizes}
        busy = {label: [] for label in sizes}
        for hour in range(args.rounds):
            for label, (db, connection, service) in services.items():
                base = START + hour * 3600
                idle[label].append(timed(
                    lambda: service.claimNextJob(now=base + 60)))
                busy[label].append(timed(
                    lambda: service.process(now=base + 5 * 60)))
        small, large = sizes
        print(f'{"pass":<26}{small:>14}{large:>16}{"ratio":>8}')
        for name, results in (('idle (none due), ms', idle),
                              ('busy (100 due), ms', busy)):
            a = statistics.median(results[small]) * 1000
            b = statistics.median(results[large]) * 1000
            print(f'{name:<26}{a:>14.3f}{b:>16.3f}{b / a:>8.2f}')
        for db, connection, service in services.values():
            connection.close()
            db.close()


if __name__ == '__main__':
    main()
