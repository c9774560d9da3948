"""How long stopProcessing() takes for an idle service: from the call until
the processing thread has ended (waitTime is 1 s, so a processor that only
looked at its stop flag after each wait would take up to a second).

Run by hand:  .venv/bin/python benchmarks/stop.py [--samples 50]
"""
import argparse
import os
import statistics
import tempfile
import threading
import time

import transaction
from ZODB import DB
from ZODB.FileStorage import FileStorage

from lovely import remotetask


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--samples', type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        db = DB(FileStorage(os.path.join(directory, 'Data.fs')))
        connection = db.open()
        root = remotetask.getApplicationRoot(connection, create=True)
        service = root['svc'] = remotetask.TaskService()
        transaction.commit()
        times = []
        for _ in range(args.samples):
            service.startProcessing()
            time.sleep(0.05)     # let it settle into its idle wait
            thread = next(t for t in threading.enumerate()
                          if t.name == 'remotetasks.svc')
            started = time.perf_counter()
            service.stopProcessing()
            thread.join()
            times.append((time.perf_counter() - started) * 1000)
        connection.close()
        db.close()
    times.sort()
    print(f'stop of an idle processor, {args.samples} samples: '
          f'p50 {statistics.median(times):.2f} ms, '
          f'max {times[-1]:.2f} ms')


if __name__ == '__main__':
    main()
