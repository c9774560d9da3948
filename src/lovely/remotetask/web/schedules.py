"""Reading a schedule from a request, with each mistake tied to its field.

The API takes a schedule as JSON, the dashboard as form text; both come
out as the keyword arguments of ``addCronJob`` and ``ICronJob.update``.
Each field is checked with the core's own checks (`schedule.checkField`,
`cron.parseCron`, ...), one at a time, so that an error can be shown next
to the field it is about; what only the whole schedule can tell (a delay
together with fields) is left to the core, whose error then concerns the
schedule as a whole.
"""
import json
from typing import Dict

from lovely.remotetask.timing import cron, schedule
from lovely.remotetask.exceptions import ScheduleError
from lovely.remotetask.timing.schedule import EVERY, parseFieldText
from lovely.remotetask.serialize import SCHEDULE_FIELDS
from lovely.remotetask.web import settings
from lovely.remotetask.web.parsing import shown


class FieldErrors(ValueError):
    """Mistakes in a request, by field name ('' for the request as a whole)."""

    def __init__(self, errors: Dict[str, str]) -> None:
        # Each message names its field already.
        super().__init__('; '.join(errors.values()))
        self.errors = errors


def fromJSON(data: dict) -> dict:
    """The schedule keywords of a JSON request body; raises FieldErrors.

    Tuple fields are lists of ints, or strings as `parseFieldText` reads
    them; ``cron`` and ``timezone`` strings; ``delay`` and ``graceTime``
    numbers; ``missed`` a policy name; ``overlap`` a boolean.
    """
    errors = {}
    kwargs = {}
    for name in SCHEDULE_FIELDS:
        if name not in data:
            continue
        value = data[name]
        try:
            if isinstance(value, str):
                kwargs[name] = _fieldText(name, value)
            elif isinstance(value, list):
                # JSON Schema counts 5.0 an integer, and so does the API.
                kwargs[name] = schedule.checkField(name, [
                    int(item) if isinstance(item, float) and
                    item.is_integer() else item for item in value])
            else:
                raise ScheduleError(
                    f'{name} must be a list of ints or a string such as '
                    f'"0,30" or "*", not {shown(value)}')
        except ScheduleError as error:
            errors[name] = str(error)
    _check(errors, kwargs, 'delay', data.get('delay'), schedule.checkDelay)
    _check(errors, kwargs, 'graceTime', data.get('graceTime'), _checkGraceTime)
    _check(errors, kwargs, 'missed', data.get('missed'), _checkMissed)
    if data.get('overlap') is not None:
        if isinstance(data['overlap'], bool):
            kwargs['overlap'] = data['overlap']
        else:
            errors['overlap'] = 'overlap must be true or false'
    _expression(errors, kwargs, data.get('cron'), data.get('timezone'))
    if errors:
        raise FieldErrors(errors)
    return kwargs


def fromForm(form) -> dict:
    """The schedule keywords of the dashboard's cron job form.

    Either a cron expression (and a zone) or the five tuple fields, each
    ``*`` or numbers; raises FieldErrors.
    """
    errors = {}
    kwargs = {}
    for name in SCHEDULE_FIELDS:
        try:
            values = _fieldText(name, form.get(name, ''))
        except ScheduleError as error:
            errors[name] = str(error)
            continue
        if values:
            kwargs[name] = values
    expression = form.get('cron', '').strip() or None
    timezone = form.get('timezone', '').strip() or None
    if expression is not None and any(kwargs.get(n) for n in SCHEDULE_FIELDS):
        errors['cron'] = ('give either a cron expression or the fields '
                          'below, not both: leave the fields at *')
    _expression(errors, kwargs, expression, timezone)
    missed = form.get('missed', '').strip() or None
    _check(errors, kwargs, 'missed', missed, _checkMissed)
    if errors:
        raise FieldErrors(errors)
    return kwargs


def formValues(job=None) -> dict:
    """The cron job form's fields, filled in from `job` (or empty)."""
    values = dict(cron='', timezone='', missed='once', task='', input='')
    for name in SCHEDULE_FIELDS:
        values[name] = EVERY
    if job is None:
        return values
    values.update(task=job.task, input=json.dumps(job.input, default=repr),
                  missed=job.missed)
    if job.cron is not None:
        values.update(cron=job.cron.expression, timezone=job.timezone or '')
    for name in SCHEDULE_FIELDS:
        values[name] = ','.join(map(str, getattr(job, name))) or EVERY
    return values


def _fieldText(name, text):
    """`parseFieldText`, for a text of a sensible length (all 60 minutes
    written out one by one take 170 characters)."""
    if len(text) > settings.MAX_FIELD_LENGTH:
        raise ScheduleError(f'{name} is {len(text)} characters long; at most '
                            f'{settings.MAX_FIELD_LENGTH} are taken')
    return parseFieldText(name, text)


def _expression(errors, kwargs, expression, timezone):
    for name, value in (('cron', expression), ('timezone', timezone)):
        if isinstance(value, str) and len(value) > settings.MAX_FIELD_LENGTH:
            errors[name] = (f'{name} is {len(value)} characters long; at '
                            f'most {settings.MAX_FIELD_LENGTH} are taken')
            return
    if expression is not None:
        try:
            cron.parseCron(expression)
            kwargs['cron'] = expression
        except ScheduleError as error:
            errors['cron'] = str(error)
    if timezone is not None:
        if expression is None:
            errors['timezone'] = ('a time zone goes with a cron expression; '
                                  'the fields count in UTC')
            return
        try:
            kwargs['timezone'] = cron.checkTimezone(timezone)
        except ScheduleError as error:
            errors['timezone'] = str(error)


def _check(errors, kwargs, name, value, check) -> None:
    if value is None:
        return
    try:
        kwargs[name] = check(value)
    except ScheduleError as error:
        errors[name] = str(error)


def _checkGraceTime(value):
    schedule.checkMissedPolicy('once', value)
    return value


def _checkMissed(value):
    schedule.checkMissedPolicy(value, None)
    return value
