"""The short variant of benchmarks/chaos.py (issue 24): a minute of mixed
faults over ZEO and over RelStorage on a PostgreSQL cluster of its own,
with producers and workers in processes of their own; every check
passes, and every kind of fault happened."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CHAOS = os.path.join(HERE, os.pardir, 'benchmarks', 'chaos.py')
sys.path.insert(0, os.path.dirname(CHAOS))

FAULTS = {'killWorker', 'stopWorker', 'killStorage', 'pack', 'clean',
          'retryAll', 'cancelRunning'}


@pytest.mark.parametrize('storage', ['zeo', 'relstorage'])
def test_a_minute_of_chaos_loses_nothing(storage, tmp_path):
    if storage == 'relstorage':
        from chaos import postgresBinaries
        if postgresBinaries() is None:
            pytest.skip('no PostgreSQL server binaries (initdb, postgres)')
    figures = tmp_path / 'figures.json'
    # Faults every 1 to 3 s: each of the seven kinds comes at least once
    # in the minute (they are drawn from a shuffled bag of all of them).
    done = subprocess.run(
        [sys.executable, CHAOS, '--storage', storage, '--seconds', '45',
         '--every', '1', '3', '--settle', '120', '--directory',
         str(tmp_path / 'run'), '--json', str(figures)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    report = json.loads(figures.read_text())
    assert all(check['ok'] for check in report['checks']), report
    assert len(report['checks']) == (10 if storage == 'zeo' else 8)
    assert FAULTS <= set(report['faults']), report['faults']
    assert report['committed'] > 100
    assert set(report['kinds']) >= {'plain', 'priority', 'delayed',
                                    'start later', 'key', 'flaky',
                                    'fan-in', 'limited'}
