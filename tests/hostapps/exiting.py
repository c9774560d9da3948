"""A host process that processes a service in a thread and then exits:
``python -m hostapps.exiting URI SERVICE MODE GRACE``.

MODE says how it ends: ``stdin`` returns from main when its standard input
closes (a normal exit); ``sigterm`` waits for SIGTERM with no handler of its
own; ``hosthandler`` installs its own SIGTERM handler first, which ends
main.  The task ``hold`` runs until its input's ``seconds`` have passed;
each run appends '<jobid> start' and '<jobid> done' lines to the file its
input names.
"""
import signal
import sys
import threading
import time

import transaction

from lovely import remotetask
from lovely.remotetask.runtime import processing
from lovely.remotetask.hosts.database import openDatabase


def hold(input):
    _line(input['path'], 'start')
    time.sleep(input['seconds'])
    _line(input['path'], 'done')
    return 'held'


def _line(path, word):
    with open(path, 'a') as f:
        f.write(f'{word}\n')


def main(uri, serviceName, mode, grace):
    remotetask.provideTask(hold)
    processing.EXIT_GRACE = float(grace)
    stop = threading.Event()
    if mode == 'hosthandler':
        def handler(signum, frame):
            print('host handler', flush=True)
            stop.set()
        signal.signal(signal.SIGTERM, handler)
    db = openDatabase(uri)
    connection = db.open()
    connection.root()[serviceName].startProcessing()
    transaction.abort()
    print('processing', flush=True)
    if mode == 'stdin':
        sys.stdin.read()
    elif mode == 'sigterm':
        threading.Event().wait()
    else:
        stop.wait()
    print('main returns', flush=True)


if __name__ == '__main__':
    main(*sys.argv[1:])
