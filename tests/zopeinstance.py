"""A Zope instance as its guide makes one (``mkwsgiinstance``), served by
``runwsgi`` in a process of its own: for tests/test_zope.py and
tests/test_plone.py."""
import base64
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import servers
from lovely.remotetask import testing

#: The Web service inside Zope takes Zope's users.
ADMIN = 'admin:admin'
HERE = os.path.dirname(os.path.abspath(__file__))


class ZopeInstance:
    """A Zope instance in `directory`, as mkwsgiinstance makes it."""

    def __init__(self, directory):
        self.directory = directory
        self.port = servers.freePort()
        self.env = dict(os.environ, PYTHONPATH=HERE + os.pathsep +
                        os.environ.get('PYTHONPATH', ''),
                        HOSTAPPS=os.path.join(HERE, 'hostapps'))
        bin = os.path.dirname(sys.executable)
        subprocess.run([os.path.join(bin, 'mkwsgiinstance'), '-d',
                        directory, '-u', 'admin:admin'], check=True)
        self.conf = os.path.join(directory, 'etc', 'zope.conf')
        self.ini = os.path.join(directory, 'etc', 'zope.ini')
        self.runwsgi = os.path.join(bin, 'runwsgi')
        self.logPath = os.path.join(directory, 'run.log')
        self.process = None

    def setUp(self, autostart='site1@tasks, site2@reports',
              include='<include package="hostapps" />'):
        """Configure what a user adds to run tasks, as docs/hosts.rst
        says: our ZCML in etc/site.zcml, autostart in zope.conf, the Web
        service in zope.ini."""
        self.include(include)
        with open(self.conf, 'a') as f:
            f.write('\n<product-config lovely.remotetask>\n'
                    f'  autostart {autostart}\n'
                    '</product-config>\n')
        with open(self.ini) as f:
            ini = f.read()
        ini = re.sub(r'port = \d+', f'port = {self.port}', ini)
        ini = re.sub(r'\n    zope\n', '\n    remotetask\n    zope\n', ini)
        ini += ('\n[filter:remotetask]\nuse = egg:lovely.remotetask#zope\n'
                'prefix = /remotetask\n')
        with open(self.ini, 'w') as f:
            f.write(ini)

    def include(self, zcml):
        """Add `zcml` to etc/site.zcml, after Zope's own."""
        site = os.path.join(self.directory, 'etc', 'site.zcml')
        with open(site) as f:
            text = f.read()
        text = text.replace('  <!-- Load the configuration overrides',
                            f'  {zcml}\n\n  <!-- Load the configuration '
                            f'overrides')
        with open(site, 'w') as f:
            f.write(text)

    def run(self, *args, **kwargs):
        """Run a command in the instance's directory, with the tests'
        host applications importable; return its output."""
        done = subprocess.run(args, env=self.env, cwd=self.directory,
                              capture_output=True, text=True, **kwargs)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def zconsole(self, script):
        """Run a script in Zope's console, as the guide says."""
        return self.run(os.path.join(os.path.dirname(sys.executable),
                                     'zconsole'), 'run', self.conf, script)

    def start(self):
        self.log = open(self.logPath, 'ab')
        self.process = subprocess.Popen(
            [self.runwsgi, self.ini], stdout=self.log,
            stderr=subprocess.STDOUT, env=self.env, cwd=self.directory)
        testing.waitUntil(lambda: self.process.poll() is None and
                          servers.accepts(self.port), timeout=60,
                          interval=0.05)

    def stop(self, timeout=30):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.log.close()

    def output(self):
        with open(self.logPath, encoding='utf-8', errors='replace') as f:
            return f.read()

    def request(self, path, data=None, user=None, token=None):
        headers = {}
        if user is not None:
            headers['Authorization'] = 'Basic ' + base64.b64encode(
                user.encode()).decode()
        if token is not None:
            headers['Authorization'] = f'Bearer {token}'
        if data is not None:
            data = json.dumps(data).encode()
            headers['Content-Type'] = 'application/json'
        request = urllib.request.Request(
            f'http://127.0.0.1:{self.port}{path}', data=data,
            headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    def api(self, path, data=None, user=ADMIN):
        return json.loads(self.request('/remotetask/api' + path, data,
                                       user=user))

    def runJob(self, service, task, input, user=ADMIN):
        """Add a job through the Web service; wait until it is done."""
        jobid = self.api(f'/services/{service}/jobs',
                         dict(task=task, input=input), user=user)['id']
        done = {}

        def finished():
            done.update(self.api(f'/services/{service}/jobs/{jobid}'))
            return done['status'] in ('completed', 'error')

        testing.waitUntil(finished, timeout=30, interval=0.05)
        return done


def call(zope, path, method='GET', user=None, form=None, headers=()):
    """(status, body) of a request to Zope, whatever the status."""
    data = urllib.parse.urlencode(form or {}).encode()
    url = f'http://127.0.0.1:{zope.port}{path}'
    if method == 'GET' and form:
        url, data = f'{url}?{data.decode()}', None
    elif method == 'GET':
        data = None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers=dict(headers))
    if user is not None:
        request.add_header('Authorization', 'Basic ' + base64.b64encode(
            user.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode('utf-8', 'replace')
