"""The dashboard in a real browser: Debian's chromium, headless, by Selenium.

The application runs in waitress on a free loopback port, over a
FileStorage, with the service processing in a thread of this process.
"""
import base64
import os
import shutil
import threading

import pytest

from conftest import MANAGE_TOKEN, LiveServer
from lovely import remotetask
from lovely.remotetask.web import settings

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMEDRIVER = shutil.which('chromedriver') or '/usr/bin/chromedriver'

webdriver = pytest.importorskip('selenium.webdriver')
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip('Debian\'s chromium and chromium-driver are not installed '
                '(apt-get install chromium chromium-driver)',
                allow_module_level=True)

from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException, WebDriverException)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TIMEOUT = 20


@pytest.fixture
def gate():
    """A task that runs until the test opens the gate."""
    opened = threading.Event()

    @remotetask.provideTask
    def wait(input):
        if not opened.wait(TIMEOUT):
            raise RuntimeError('the gate was never opened')
        return f'passed {input}'

    yield opened
    opened.set()


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ('--headless', '--no-sandbox', '--disable-gpu',
                 '--disable-background-networking',
                 '--disable-component-update',
                 '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
                 f'--user-data-dir={tmp_path / "chromium"}',
                 '--window-size=1400,1200'):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(TIMEOUT)
    yield driver
    driver.quit()


@pytest.fixture
def server(app, db, gate, monkeypatch):
    monkeypatch.setattr(settings, 'REFRESH_INTERVAL', 300)
    live = LiveServer(app)
    connection = db.open()
    service = connection.root()['Application']['svc']
    service.startProcessing(waitTime=0.2)
    yield live
    gate.set()
    service.stopProcessing(wait=TIMEOUT)
    connection.close()
    live.close()


def waiting(driver):
    # A cell read while the refresh script replaces it can be stale.
    return WebDriverWait(driver, TIMEOUT, ignored_exceptions=(
        StaleElementReferenceException,))


def submit(driver, button):
    """Click a submit button and wait for the page it leads to."""
    button.click()
    waiting(driver).until(lambda d: gone(button))


def gone(element) -> bool:
    """Whether the page that held `element` was replaced.  Chromedriver
    says so by a stale reference, or, caught in the middle of the
    navigation, by an inspector error that the node left the document."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if 'does not belong to the document' in str(error):
            return True
        raise
    return False


def textOf(driver, selector):
    """The text of what `selector` finds.  The refresh script replaces a
    job's row whenever it changes (and every row at its first refresh), so
    a row found a moment ago may be gone: it is found again."""
    return waiting(driver).until(
        lambda d: d.find_element(By.CSS_SELECTOR, selector).text)


def click(driver, selector):
    """Click what `selector` finds, found again if the refresh script
    replaced it between finding and clicking."""
    def clicked(d):
        d.find_element(By.CSS_SELECTOR, selector).click()
        return True
    waiting(driver).until(clicked)


def statusOf(driver, jobid):
    return textOf(driver, f'#job-{jobid} td.status')


def addJob(driver, task, input):
    form = driver.find_element(By.ID, 'add-form')
    form.find_element(By.CSS_SELECTOR,
                      f'#add-task option[value="{task}"]').click()
    field = form.find_element(By.ID, 'add-input')
    field.clear()
    field.send_keys(input)
    submit(driver, form.find_element(By.ID, 'add-submit'))
    flash = waiting(driver).until(lambda d: d.find_element(By.ID, 'flash'))
    return int(flash.text.split()[2])   # "Added job N (task)."


def test_dashboard_in_a_browser(server, browser, gate, reader):
    wait = waiting(browser)
    browser.get(f'{server.url}/services/svc')
    # Sent to log in first.
    wait.until(lambda d: d.find_element(By.ID, 'token'))
    browser.find_element(By.ID, 'token').send_keys(MANAGE_TOKEN)
    submit(browser, browser.find_element(By.CSS_SELECTOR,
                                         'form.login button'))
    wait.until(lambda d: d.find_element(By.TAG_NAME, 'h1').text ==
               'Service svc')

    # A job that waits at the gate, and one queued behind it.
    held = addJob(browser, 'wait', '"A"')
    queued = addJob(browser, 'echo', '{"n": 1}')
    wait.until(lambda d: statusOf(d, held) == 'processing')
    assert statusOf(browser, queued) == 'queued'

    # Cancel the queued one.
    click(browser, f'input.select[value="{queued}"]')
    submit(browser, browser.find_element(By.ID, 'cancel-selected'))
    wait.until(lambda d: d.find_element(By.ID, 'flash').text ==
               'Cancelled 1 job.')
    assert statusOf(browser, queued) == 'cancelled'
    assert reader.service().getStatus(queued) == 'cancelled'

    # Open the gate: the job completes on the page, which is not reloaded.
    browser.execute_script('window.sameDocument = true;')
    assert statusOf(browser, held) == 'processing'
    gate.set()
    wait.until(lambda d: statusOf(d, held) == 'completed')
    assert browser.execute_script('return window.sameDocument === true;')
    assert textOf(browser, f'#job-{held} td.detail').startswith(
        'result: "passed A"')

    # A cron job with a minute out of range: the error is next to the field.
    form = browser.find_element(By.ID, 'cron-form')
    minute = form.find_element(By.ID, 'cron-minute')
    minute.clear()
    minute.send_keys('61')
    submit(browser, form.find_element(By.ID, 'cron-submit'))
    error = wait.until(lambda d: d.find_element(By.ID, 'cron-minute-error'))
    assert error.text == 'minute value 61 is out of range 0-59'
    field = error.find_element(By.XPATH, '..')
    assert field.find_element(By.TAG_NAME, 'input').get_attribute('id') == (
        'cron-minute')
    assert browser.find_element(By.ID, 'cron-minute').get_attribute(
        'value') == '61'
    assert sorted(reader.service().jobs.keys()) == sorted([held, queued])


def evilSite(target):
    """A page of another site that posts to `target` as soon as it loads, as
    text/plain so that no preflight asks the service first."""
    page = f'''<!DOCTYPE html><html><body>
    <form id="f" method="post" action="{target}" enctype="text/plain">
    <input name="x" value="1"></form>
    <script>document.getElementById('f').submit();</script>
    </body></html>'''.encode()

    def app(environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/html')])
        return [page]
    return app


def test_basic_credentials_only_from_the_dashboards_own_pages(
        server, browser, reader):
    """Chromium sends the Basic credentials it keeps (here set by DevTools)
    with every request, whatever page made it; the service refuses changes
    that a page of another origin made, and takes the dashboard's own."""
    service = reader.service()
    done = service.add('echo', 'done')
    service.processNext(jobid=done)
    reader.tm.commit()
    token = base64.b64encode(f'any:{MANAGE_TOKEN}'.encode()).decode()
    browser.execute_cdp_cmd('Network.enable', {})
    browser.execute_cdp_cmd('Network.setExtraHTTPHeaders', {
        'headers': {'Authorization': f'Basic {token}'}})
    wait = waiting(browser)
    evil = LiveServer(evilSite(f'{server.url}/services/svc/clean'))
    try:
        # Another port is another origin (and the same site).
        browser.get(evil.url)
        wait.until(lambda d: d.current_url.endswith('/services/svc/clean'))
        message = wait.until(lambda d: d.find_element(By.ID, 'error-message'))
        assert message.text.startswith('refused: a page of another site '
                                       '(Sec-Fetch-Site: same-site)')
        assert list(reader.service().jobs.keys()) == [done]
    finally:
        evil.close()
    browser.get(f'{server.url}/services/svc')
    form = wait.until(lambda d: d.find_element(By.ID, 'clean-form'))
    form.find_element(By.CSS_SELECTOR, 'button').click()
    wait.until(lambda d: d.switch_to.alert).accept()   # "Remove every..."
    flash = wait.until(lambda d: d.find_element(By.ID, 'flash'))
    assert flash.text == 'Removed 1 finished job.'
    reader.tm.begin()
    assert list(reader.service().jobs.keys()) == []


def test_operators_pages_in_a_browser(server, browser, reader):
    """The overview, a service's page that follows its jobs live, a
    failed job's page with its traceback, retrying, running a cron job now
    and pausing the service, as a person clicks through them."""
    from lovely.remotetask.timing.retry import RetryPolicy

    def broken(input):
        raise ValueError(f'bad {input}')
    remotetask.provideTask(broken, retry=RetryPolicy(maxAttempts=1))
    service = reader.service()
    failed = service.add('broken', 'x')
    service.processNext(jobid=failed)
    cron = service.addCronJob('echo', 'tick', cron='0 4 * * *')
    reader.tm.commit()
    wait = waiting(browser)
    browser.get(f'{server.url}/login?token={MANAGE_TOKEN}')
    # (The overview redraws its rows as counts come: a row read a moment
    # ago may be replaced, and is found again.)
    assert wait.until(lambda d: d.find_element(
        By.CSS_SELECTOR, '#service-svc td.status-error').text) == '1'

    def openService(driver):
        link = driver.find_element(By.CSS_SELECTOR, '#service-svc td.name a')
        link.click()
        return link
    link = wait.until(openService)
    wait.until(lambda d: gone(link))
    assert browser.find_element(By.TAG_NAME, 'h1').text == 'Service svc'
    # The failure shows in the bar of its minute (the page may be drawn
    # in the next one).
    # (The chart read a moment ago may be replaced by a fresh one.)
    minute = int(reader.service().jobs[failed].completed // 60) * 60

    def failedBars(driver):
        bars = driver.find_elements(By.CSS_SELECTOR,
                                    '#activity-chart g.minute')
        assert len(bars) == 60
        return [bar.get_attribute('data-start') for bar in bars
                if bar.find_elements(By.CSS_SELECTOR, 'rect.failed')]
    assert wait.until(failedBars) == [str(minute)]

    # A job added elsewhere shows at the top of the table, and runs, while
    # the page stays.
    browser.execute_script('window.sameDocument = true;')
    added = reader.service().add('echo', 'live')
    reader.tm.commit()
    first = 'table#jobs tbody tr[data-job]'
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, first).get_attribute(
        'data-job') == str(added))
    wait.until(lambda d: statusOf(d, added) == 'completed')
    assert browser.execute_script('return window.sameDocument === true;')

    # The failed job's page, from its id in the table.
    def openPage(driver):
        link = driver.find_element(By.CSS_SELECTOR, f'#job-{failed} td.id a')
        link.click()       # a row replaced meanwhile is found again
        return link
    link = wait.until(openPage)
    wait.until(lambda d: gone(link))
    traceback = browser.find_element(By.CSS_SELECTOR,
                                     '#attempts pre.traceback')
    assert not traceback.is_displayed()
    browser.find_element(By.CSS_SELECTOR, '#attempts summary').click()
    assert traceback.is_displayed()
    assert traceback.text.endswith("ValueError: bad x")
    submit(browser, browser.find_element(By.ID, 'retry'))
    flash = wait.until(lambda d: d.find_element(By.ID, 'flash'))
    assert flash.text == f'Retried job {failed}: queued again.'
    wait.until(lambda d: reader.service().jobs[failed].attempts == 2)

    # Run the cron job now: the browser lands on the run's page.
    browser.get(f'{server.url}/services/svc/jobs/{cron}')
    submit(browser, wait.until(lambda d: d.find_element(By.ID, 'run-now')))
    runOf = wait.until(lambda d: d.find_element(By.ID, 'fact-run-of'))
    assert runOf.text == f'cron job {cron}'
    run = int(browser.current_url.rsplit('/', 1)[1])
    wait.until(lambda d: reader.service().getStatus(run) == 'completed')

    # Pause the service, then retry all failed jobs, which asks first.
    browser.get(f'{server.url}/services/svc')
    submit(browser, wait.until(lambda d: d.find_element(By.ID, 'pause')))
    state = wait.until(lambda d: d.find_element(By.ID, 'paused-state'))
    assert state.text.startswith('Paused: no worker claims its jobs')
    assert reader.service().isPaused()
    wait.until(lambda d: reader.service().getStatus(failed) == 'error')
    button = browser.find_element(By.ID, 'retry-all')
    button.click()
    wait.until(lambda d: d.switch_to.alert).accept()
    wait.until(lambda d: gone(button))
    flash = wait.until(lambda d: d.find_element(By.ID, 'flash'))
    assert flash.text == 'Retried 1 failed job.'
    assert reader.service().getStatus(failed) == 'queued'
    submit(browser, browser.find_element(By.ID, 'resume'))
    wait.until(lambda d: reader.service().getStatus(failed) == 'error')


def test_counts_charts_and_workers_follow_the_service(server, browser,
                                                      reader):
    """The tabs' counts, the queue, the charts and the workers change as
    the service does, from live.json, while the page stays."""
    wait = waiting(browser)
    browser.get(f'{server.url}/login?token={MANAGE_TOKEN}')
    wait.until(lambda d: d.find_element(By.ID, 'service-svc'))
    browser.get(f'{server.url}/services/svc')
    wait.until(lambda d: d.find_element(By.ID, 'history-chart'))
    browser.execute_script('window.sameDocument = true;')
    assert textOf(browser, '#tab-completed .count') == '0'
    assert not browser.find_elements(By.CSS_SELECTOR,
                                     '#history-chart rect.completed')
    assert 'w-live' not in textOf(browser, '#workers-panel')

    service = reader.service()
    service.registerWorker('w-live', 60.0)
    jobid = service.add('echo', 'counted')
    reader.tm.commit()
    wait.until(lambda d: textOf(d, '#tab-completed .count') == '1')
    wait.until(lambda d: textOf(d, '#last-hour').startswith('1 completed'))
    wait.until(lambda d: d.find_elements(
        By.CSS_SELECTOR, '#activity-chart rect.completed'))
    wait.until(lambda d: 'w-live' in textOf(d, '#workers-panel'))
    # The hours count the job once a drain files it (the processor's
    # lease keeper drains what no claim drained).
    wait.until(lambda d: d.find_elements(
        By.CSS_SELECTOR, '#history-chart rect.completed'))
    assert reader.service().getStatus(jobid) == 'completed'

    # The history's form shows another task's hours at once: none.
    browser.find_element(
        By.CSS_SELECTOR, '#history-task option[value="wait"]').click()

    def title(driver):      # (an SVG title shows no text)
        return driver.find_element(By.ID, 'history-title').get_attribute(
            'textContent')
    wait.until(lambda d: 'task wait' in title(d) and not d.find_elements(
        By.CSS_SELECTOR, '#history-chart rect.completed'))
    browser.find_element(
        By.CSS_SELECTOR, '#history-hours option[value="168"]').click()
    wait.until(lambda d: 'last 7 days' in title(d))
    assert browser.current_url.endswith(
        '/services/svc?chartHours=168&chartTask=wait')
    assert browser.execute_script('return window.sameDocument === true;')

    # The home page's row follows the service too.
    browser.get(f'{server.url}/')
    cell = '#service-svc td.status-completed'
    assert textOf(browser, cell) == '1'
    browser.execute_script('window.sameDocument = true;')
    service = reader.service()
    service.add('echo', 'again')
    reader.tm.commit()
    wait.until(lambda d: textOf(d, cell) == '2')
    assert browser.execute_script('return window.sameDocument === true;')


def test_jobs_found_by_tag_and_words_in_a_browser(server, browser, reader):
    """The filter's tag and search fields find the jobs that carry the
    tag and a word of their input beginning with each word searched; a
    job's tag links to the jobs with that tag."""
    service = reader.service()
    wanted = service.add('echo', {'invoice': 'march'}, tags=['acme'])
    service.add('echo', {'invoice': 'april'}, tags=['acme'])
    other = service.add('echo', {'invoice': 'march'}, tags=['globex'])
    reader.tm.commit()
    wait = waiting(browser)
    browser.get(f'{server.url}/login?token={MANAGE_TOKEN}')
    browser.get(f'{server.url}/services/svc')
    form = wait.until(lambda d: d.find_element(By.ID, 'filter'))
    form.find_element(By.ID, 'filter-tag').send_keys('acme')
    form.find_element(By.ID, 'filter-q').send_keys('mar')
    submit(browser, form.find_element(By.CSS_SELECTOR,
                                      'button[type=submit]'))

    def shown(driver):
        return [row.get_attribute('data-job') for row in driver.find_elements(
            By.CSS_SELECTOR, 'table#jobs tbody tr[data-job]')]
    assert wait.until(shown) == [str(wanted)]
    # Its tag's link: every job tagged acme, and none other.
    click(browser, f'#job-{wanted} td.task a.tag')
    wait.until(lambda d: 'q=' not in d.current_url and 'tag=acme' in
               d.current_url)
    assert str(other) not in wait.until(shown)
    assert len(wait.until(shown)) == 2
