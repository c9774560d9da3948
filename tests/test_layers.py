"""The package's layers: the core stands without the Web service."""
import subprocess
import sys


def test_the_core_does_not_import_the_web_service():
    code = ('import sys, lovely.remotetask, lovely.remotetask.cli, '
            'lovely.remotetask.metrics; '
            'print(sorted(m for m in sys.modules if m.startswith('
            '"lovely.remotetask.web") or m in ("webob", "waitress")))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'
