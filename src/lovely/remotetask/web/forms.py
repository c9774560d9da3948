"""The dashboard's forms that add jobs and edit cron jobs, and their
handlers.

Adding a job or a cron job is a form on the service's page; editing a cron
job's input and schedule is a page of its own.  Each field is checked as
the JSON API checks it (`schedules`, `parsing`); a form with mistakes is
shown again with its values, each message next to its field, and nothing
changed.
"""
from lovely.remotetask.exceptions import RemoteTaskError, UnknownTaskError
from lovely.remotetask.pickling import checkStorable
from lovely.remotetask.timing.schedule import MISSED_POLICIES, checkDelay
from lovely.remotetask.serialize import SCHEDULE_FIELDS
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.pagestate import destination, goBack
from lovely.remotetask.web.parsing import loadJSON
from lovely.remotetask.web.rendering import render
from lovely.remotetask.web.schedules import FieldErrors, formValues, fromForm
from lovely.remotetask.web.servicepage import servicePage


def addJob(ctx, service):
    entry = ctx.service(service)
    form = ctx.request.POST
    values = dict(task=form.get('task', ''), input=form.get('input', ''),
                  delay=form.get('delay', ''),
                  startLater=form.get('startLater') == 'on')
    errors = {}
    task = _task(entry, values['task'], errors)
    input = _input(values['input'], errors)
    delay = None
    if values['delay'].strip():
        try:
            delay = checkDelay(float(values['delay']))
        except (ValueError, RemoteTaskError) as error:
            errors['delay'] = (str(error) if isinstance(error, RemoteTaskError)
                               else 'the delay is a number of seconds')
        if values['startLater'] and 'delay' not in errors:
            errors['delay'] = 'a delayed job starts by itself: leave "start ' \
                'later" unchecked'
    if not errors:
        try:
            if delay is not None:
                jobid = entry.service.addCronJob(task, input, delay=delay)
            else:
                jobid = entry.service.add(task, input,
                                          startLater=values['startLater'])
        except RemoteTaskError as error:
            errors[''] = str(error)
    if errors:
        return servicePage(ctx, service, status=400,
                           addForm=dict(values=values, errors=errors))
    return goBack(ctx, entry, f'Added job {jobid} ({task}).')


def addCronJob(ctx, service):
    entry = ctx.service(service)
    form = ctx.request.POST
    values = _cronValues(form)
    errors = {}
    task = _task(entry, values['task'], errors)
    input = _input(values['input'], errors)
    schedule = _cronSchedule(form, errors)
    if not errors:
        try:
            jobid = entry.service.addCronJob(task, input, **schedule)
        except RemoteTaskError as error:
            errors[''] = str(error)
    if errors:
        return servicePage(ctx, service, status=400,
                           cronForm=dict(values=values, errors=errors))
    return goBack(ctx, entry, f'Added cron job {jobid} ({task}).')


def editForm(ctx, service, job, status=200, values=None, errors=None):
    entry = ctx.service(service)
    found = ctx.cronJob(entry, job)
    return render(
        ctx, 'edit', status=status, title=f'Cron job {found.id}',
        entry=entry, job=found, fields=SCHEDULE_FIELDS,
        missedPolicies=MISSED_POLICIES,
        back=ctx.request.params.get('back', ''),
        to=destination(ctx.request.params),
        cronForm=dict(values=values or formValues(found),
                      errors=errors or {}),
        serviceUrl=ctx.url(f'/services/{entry.path}'),
        jobUrl=ctx.url(f'/services/{entry.path}/jobs/{found.id}'),
        editUrl=ctx.url(f'/services/{entry.path}/jobs/{found.id}/edit'))


def editCronJob(ctx, service, job):
    entry = ctx.service(service)
    found = ctx.cronJob(entry, job)
    form = ctx.request.POST
    values = dict(_cronValues(form), task=found.task)
    errors = {}
    input = _input(values['input'], errors)
    schedule = _cronSchedule(form, errors)
    if not errors:
        try:
            checkStorable(input, f'the input of job {found.id}')
            found.input = input
            found.update(**schedule)
            entry.service.reschedule(found.id)
        except RemoteTaskError as error:
            errors[''] = str(error)
    if errors:
        return editForm(ctx, service, job, status=400, values=values,
                        errors=errors)
    return goBack(ctx, entry, f'Saved cron job {found.id}.', found.id)


# Reading the fields

def _task(entry, name, errors):
    if not name:
        errors['task'] = 'choose a task'
    elif entry.service.queryTask(name) is None:
        errors['task'] = str(UnknownTaskError(name))
    return name


def _input(text, errors):
    if not text.strip():
        return None
    try:
        return loadJSON(text, 'the input')
    except HTTPError as error:
        errors['input'] = error.message
        return None


def _cronValues(form) -> dict:
    values = formValues()
    for name in values:
        if name in form:
            values[name] = form[name]
    return values


def _cronSchedule(form, errors) -> dict:
    try:
        return fromForm(form)
    except FieldErrors as error:
        errors.update(error.errors)
        return {}
