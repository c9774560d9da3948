"""Take the dashboard's screenshots in docs/ (a hand-run script, not a test).

    .venv/bin/python docs/screenshots.py [--out docs]

Makes a FileStorage database in a temporary directory with a service
``mail`` that has worked for an hour (jobs finished over the last hour,
some failed, a few retried by hand, and fewer over the day before, cron
jobs, a job running with its progress), serves the dashboard with
waitress on a free loopback port, and has Debian's chromium (headless,
through Selenium) save the overview, the service's page, its jobs
found by a tag and a word, its Queues section, a failed job's page, the
page of a job that shows what it changed, and a workflow's page as PNG
files.
"""
import argparse
import logging
import os
import random
import shutil
import sys
import tempfile
import threading
import time

import transaction
from persistent.mapping import PersistentMapping
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from ZODB import DB
from ZODB.FileStorage import FileStorage

from lovely import remotetask
from lovely.remotetask import web
from lovely.remotetask.service import protocol
from lovely.remotetask.store import store as placement
from lovely.remotetask.store import jobs as job
from lovely.remotetask.task import TaskError
from lovely.remotetask.web import serving

TOKEN = 'screenshot-token-0123456789'
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMEDRIVER = shutil.which('chromedriver') or '/usr/bin/chromedriver'
HERE = os.path.dirname(os.path.abspath(__file__))


def send(input):
    return f'sent to {input["to"]}'


def resize(input):
    if input['width'] > 4000:
        raise TaskError(f'image {input["image"]} is too large to resize')
    return {'width': input['width'] // 2}


def parse(input):
    return int(input['amount'])   # a ValueError for some: a traceback


class Clock:
    """time.time for the core, set by hand: jobs come and finish in the
    minute the script says, so that the chart has an hour of history.
    Each reading is a little later than the one before."""

    def __init__(self, modules):
        self.modules = modules
        self.now = time.time()

    def time(self):
        self.now += 0.137
        return self.now

    def __enter__(self):
        for module in self.modules:
            module.time = self
        return self

    def __exit__(self, *exc):
        for module in self.modules:
            module.time = time


def fill(db, gate):
    remotetask.provideTask(send)
    remotetask.provideTask(resize)
    remotetask.provideTask(parse)

    @remotetask.provideTask
    def report(input):
        from lovely.remotetask.runtime.context import reportProgress
        reportProgress(0.4, 'page 4 of 10')
        gate.wait(120)
        return 'done'

    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    root = remotetask.getApplicationRoot(connection, create=True)
    service = root['mail'] = remotetask.TaskService()
    root['site1'] = remotetask.Folder()
    root['site1']['thumbnails'] = remotetask.TaskService()
    tm.commit()
    flows = fillChanges(root, service, tm)
    rng = random.Random(4)
    now = time.time()
    with Clock([placement, protocol, job]) as clock:
        # A quieter day before the last hour, for the history chart.
        for hour in range(23, 0, -1):
            clock.now = now - hour * 3600 - 1800
            for n in range(4 + int(20 * abs((12 - hour) / 12)) +
                           rng.randrange(8)):
                task = rng.choice(['send', 'send', 'resize', 'parse'])
                input = {'send': {'to': f'day{n}@example.com'},
                         'resize': {'image': f'day{n}.png', 'width': 800},
                         'parse': {'amount': rng.choice(['3', 'x1'])}}[task]
                jobid = service.add(task, input)
                service.processNext(jobid=jobid)
            tm.commit()
        for minute in range(59, -1, -1):
            clock.now = now - minute * 60 - 50
            busy = 6 + int(8 * abs((30 - minute) / 30)) + rng.randrange(5)
            for n in range(busy):
                task = rng.choice(['send', 'send', 'resize', 'parse'])
                input = {'send': {'to': f'user{n}@example.com'},
                         'resize': {'image': f'img{n}.png',
                                    'width': rng.choice([800, 1600, 5000])},
                         'parse': {'amount': rng.choice(['12', '7', 'x1'])}
                         }[task]
                jobid = service.add(task, input, tags=[rng.choice(
                    ['acme', 'globex', 'initech'])])
                while service.getStatus(jobid) == 'queued':
                    service.processNext(jobid=jobid)
            tm.commit()
    for n in range(3):
        service.add('send', {'to': f'late{n}@example.com'}, startLater=True)
    service.addCronJob('report', {'kind': 'daily'}, cron='30 6 * * *',
                       timezone='Europe/Vienna')
    service.addCronJob('send', {'to': 'ops@example.com'}, minute=(0, 30))
    for n in range(12):
        service.add('send', {'to': f'queued{n}@example.com'})
    tm.commit()
    thumbnails = root['site1']['thumbnails']
    for n in range(4):
        thumbnails.add('resize', {'image': f't{n}.png', 'width': 300})
    thumbnails.pause()
    tm.commit()
    connection.close()
    return flows


def fillChanges(root, service, tm):
    """A payment that changed two accounts (its page shows "What it
    changed"), and a workflow whose steps ran, one failed and one was
    cancelled by its failure; return (payment, workflow) ids."""
    accounts = root['accounts'] = remotetask.Folder()
    accounts['alice'] = PersistentMapping(balance=100)
    accounts['bob'] = PersistentMapping(balance=0)
    tm.commit()

    @remotetask.provideTask
    def pay(order):
        accounts[order['from']]['balance'] -= order['amount']
        accounts[order['to']]['balance'] += order['amount']

    payment = service.add('pay', {'from': 'alice', 'to': 'bob',
                                  'amount': 30})
    tm.commit()
    service.processNext(jobid=payment)
    tm.commit()
    workflow = remotetask.Workflow('newsletter')
    workflow.add('fetch', 'send', {'to': 'feeds@example.com'})
    for n, width in enumerate((800, 1600, 5000)):
        workflow.add(f'resize{n}', 'resize', {'image': f'photo{n}.png',
                                              'width': width},
                     after=['fetch'])
    workflow.add('publish', 'send', {'to': 'list@example.com'},
                 after=['resize0', 'resize1', 'resize2'])
    ids = service.addWorkflow(workflow)
    tm.commit()
    for name in ('fetch', 'resize0', 'resize1', 'resize2'):
        while service.getStatus(ids[name]) in ('queued', 'retry'):
            service.processNext(jobid=ids[name])
            tm.commit()
    return payment, ids['publish']


def main(argv=None):
    logging.getLogger('lovely.remotetask').setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=HERE)
    args = parser.parse_args(argv)
    gate = threading.Event()
    with tempfile.TemporaryDirectory() as tmp:
        db = DB(FileStorage(os.path.join(tmp, 'Data.fs')))
        payment, workflow = fill(db, gate)
        app = web.makeApp(db, credentials=web.Credentials(manage=[TOKEN]))
        server = serving.createServer(app, host='127.0.0.1', port=0)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f'http://127.0.0.1:{server.effective_port}'
        connection = db.open()
        service = connection.root()['Application']['mail']
        service.startProcessing(waitTime=0.2)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ('--headless', '--no-sandbox', '--disable-gpu',
                     '--disable-dev-shm-usage', '--hide-scrollbars',
                     f'--user-data-dir={tmp}/chromium',
                     '--window-size=1280,900'):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options,
                                  service=webdriver.ChromeService(
                                      executable_path=CHROMEDRIVER))
        try:
            wait = WebDriverWait(driver, 30)
            driver.get(f'{url}/login?token={TOKEN}')
            wait.until(lambda d: d.find_elements(By.ID, 'services'))
            # The queued jobs ran; a report holds the worker at the gate.
            wait_until(lambda: connection.sync() or
                       service.queueLength() == 0)
            failed = service.add('parse', {'amount': 'twelve'})
            transaction.commit()
            wait_until(lambda: connection.sync() or
                       service.getStatus(failed) == 'error')
            report = service.add('report', {'kind': 'monthly'}, priority=5)
            for n in range(3):
                service.add('send', {'to': f'waiting{n}@example.com'})
            transaction.commit()
            wait_until(lambda: connection.sync() or
                       service.getProgress(report) is not None)
            # A paused queue holds a job; another has a limit.
            service.pauseQueue('reports')
            service.setQueueLimit('images', 2)
            service.add('resize', {'image': 'held.png', 'width': 10},
                        queue='reports')
            transaction.commit()
            driver.get(url + '/')
            shot(driver, args.out, 'dashboard-overview.png', 420)
            driver.get(f'{url}/services/mail?limit=15')
            wait.until(lambda d: d.find_elements(By.ID, 'activity-chart'))
            wait.until(lambda d: d.find_elements(
                By.CSS_SELECTOR, '#history-chart rect.completed'))
            shot(driver, args.out, 'dashboard-service.png', 1500)
            driver.get(f'{url}/services/mail?tag=acme&q=user1&limit=10')
            shot(driver, args.out, 'dashboard-search.png', 1500)
            driver.get(f'{url}/services/mail/jobs/{failed}')
            driver.find_element(By.CSS_SELECTOR, '#attempts details').click()
            shot(driver, args.out, 'dashboard-job.png')
            driver.get(f'{url}/services/mail/jobs/{payment}')
            shot(driver, args.out, 'dashboard-changes.png')
            driver.get(f'{url}/services/mail/workflows/{workflow}')
            shot(driver, args.out, 'dashboard-workflow.png')
            driver.get(f'{url}/services/mail')
            driver.set_window_size(1280, 1600)
            path = os.path.join(args.out, 'dashboard-queues.png')
            driver.find_element(By.ID, 'queues-section').screenshot(path)
            print(f'wrote {path}')
        finally:
            driver.quit()
            gate.set()
            service.stopProcessing(wait=30)
            connection.close()
            from waitress import wasyncore
            # The request threads first: each pulls the trigger as it
            # ends, and must not find it closed.
            server.task_dispatcher.shutdown()
            server.trigger.pull_trigger(
                lambda: wasyncore.close_all(server._map))
            thread.join(10)
            db.close()
    return 0


def wait_until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError('the jobs did not run')
        time.sleep(0.2)


def shot(driver, out, name, tallest=1600):
    """A screenshot of the page, as tall as it is up to `tallest`."""
    height = driver.execute_script(
        'return document.documentElement.scrollHeight')
    driver.set_window_size(1280, min(max(height, 400), tallest))
    path = os.path.join(out, name)
    driver.save_screenshot(path)
    print(f'wrote {path}')


if __name__ == '__main__':
    sys.exit(main())
