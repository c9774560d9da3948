"""XML-RPC at ``/xmlrpc/SERVICE``, with the 2009 package's API.

Clients written for the old package keep working::

    proxy = xmlrpc.client.ServerProxy(
        'http://user:TOKEN@host:8080/xmlrpc/mail')
    jobid = proxy.add('echo', {'foo': 'bar'})
    proxy.getStatus(jobid)

The methods are ``getAvailableTasks()`` (the task names, sorted),
``add(task, input)``, ``cancel(jobid)`` (true), ``getStatus(jobid)``,
``getResult(jobid)`` and ``getError(jobid)``; a missing result or error is
``<nil/>``, which ``xmlrpc.client`` reads as None.  Operators' actions
have the names of the Python API: ``startJob(jobid)`` (whether it was
started), ``retry(jobid)``, ``retryAll(status='error', task=None)`` (how
many, in batches of a transaction each), ``runNow(jobid)`` (the id of the
run), ``pauseJob(jobid, paused=True)``, ``pause()``, ``resume()`` and
``isPaused()``, ``getChanges(jobid)`` (what each attempt changed, see
`ITaskService.getChanges`) and ``undoJob(jobid)`` (how many objects it
put back); those that return nothing in Python return true.
Workflows, batches, queues and limits too: ``getWorkflow(jobid)``,
``cancelWorkflow(jobid)``, ``retryWorkflow(jobid)``, ``getBatch(id)``,
``closeBatch(id)``, ``getQueues()``, ``pauseQueue(name)``,
``resumeQueue(name)``, ``setQueueLimit(name, limit)`` (nil: none),
``getLimits()`` and ``getStranded()``.

The request is parsed by defusedxml's expat parser with DTDs, entities
and external references refused, so an entity bomb ("billion laughs")
costs nothing.  Mistakes are XML-RPC faults with the codes of the
common specification (-32700 parse error, -32601 unknown method, -32602
bad parameters, -32500 a job in the wrong state); authentication errors
are HTTP 401 and 403, which ``xmlrpc.client`` raises as ProtocolError.
"""
import inspect
import re
import xmlrpc.client
from xml.parsers.expat import ExpatError

import webob
from defusedxml.common import DefusedXmlException
from defusedxml.xmlrpc import DefusedExpatParser

from lovely.remotetask.exceptions import (
    JobStateError, RemoteTaskError, UnknownJobError)
from lovely.remotetask.interfaces import ERROR
from lovely.remotetask.serialize import statusNamed
from lovely.remotetask.web import actions
from lovely.remotetask.web.auth import ADD, MANAGE, READ
from lovely.remotetask.web.errors import HTTPError
from lovely.remotetask.web.parsing import MAX_JOB_ID, checkDepth, shown

PARSE_ERROR = -32700
UNKNOWN_METHOD = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
APPLICATION_ERROR = -32500


def register(router) -> None:
    # READ to reach it at all; methods that change state check MANAGE.
    router.add('POST', '/xmlrpc/{service}', endpoint, READ, 'xmlrpc')


class Methods:
    """The XML-RPC methods of one service."""

    def __init__(self, ctx, service) -> None:
        self.ctx = ctx
        self.service = service

    def getAvailableTasks(self):
        return sorted(self.service.getAvailableTasks())

    def add(self, task, input=None):
        if not isinstance(task, str):
            raise BadParameter(f'add: the task is a name, a string, not '
                               f'{shown(task)}')
        return self.service.add(task, input)

    def cancel(self, jobid):
        self.service.cancel(_jobId('cancel', jobid))
        return True   # XML-RPC without <nil/> support needs a value

    def getStatus(self, jobid):
        return self.service.getStatus(self._seen('getStatus', jobid))

    def getResult(self, jobid):
        return self.service.getResult(self._seen('getResult', jobid))

    def getError(self, jobid):
        return self.service.getError(self._seen('getError', jobid))

    def _seen(self, method, jobid):
        """A job id the caller may see (some see only their own jobs)."""
        jobid = _jobId(method, jobid)
        job = self.service.jobs.get(jobid)
        if job is not None:
            self.ctx.checkOwner(self.ctx.entry, job)
        return jobid

    # Operators' actions, named as in the Python API.

    def startJob(self, jobid):
        return self.service.startJob(_jobId('startJob', jobid))

    def retry(self, jobid):
        self.service.retry(_jobId('retry', jobid))
        return True

    def retryAll(self, status=ERROR, task=None):
        """Retry every failed (or cancelled) job, of `task` if given ('' or
        nil: any), in batches; return how many.  "failed" is "error"."""
        status = statusNamed(status) or status
        if status not in actions.RETRYABLE:
            raise BadParameter(f'retryAll: the status is one of '
                               f'{", ".join(actions.RETRYABLE)}, not '
                               f'{shown(status)}')
        if task is not None and not isinstance(task, str):
            raise BadParameter(f'retryAll: the task is a name, a string, '
                               f'not {shown(task)}')
        return actions.retryAll(self.ctx, self.service, status, task or None)

    def runNow(self, jobid):
        return self.service.runNow(_jobId('runNow', jobid))

    def pauseJob(self, jobid, paused=True):
        if not isinstance(paused, bool):
            raise BadParameter(f'pauseJob: paused is a boolean, not '
                               f'{shown(paused)}')
        self.service.pauseJob(_jobId('pauseJob', jobid), paused)
        return True

    def pause(self):
        self.service.pause()
        return True

    def resume(self):
        self.service.resume()
        return True

    def isPaused(self):
        return self.service.isPaused()

    def getChanges(self, jobid):
        return list(self.service.getChanges(self._seen('getChanges', jobid)))

    def undoJob(self, jobid):
        return self.service.undoJob(_jobId('undoJob', jobid))

    # Workflows, batches, queues and limits, as in the Python API.

    def getWorkflow(self, jobid):
        return self.service.getWorkflow(self._seen('getWorkflow', jobid))

    def cancelWorkflow(self, jobid):
        return self.service.cancelWorkflow(
            self._seen('cancelWorkflow', jobid))

    def retryWorkflow(self, jobid):
        return self.service.retryWorkflow(self._seen('retryWorkflow', jobid))

    def getBatch(self, batchId):
        return self.service.getBatch(self._seen('getBatch', batchId))

    def closeBatch(self, batchId):
        self.service.closeBatch(self._seen('closeBatch', batchId))
        return True

    def getQueues(self):
        return self.service.getQueues()

    def pauseQueue(self, name):
        self.service.pauseQueue(_queue('pauseQueue', name))
        return True

    def resumeQueue(self, name):
        self.service.resumeQueue(_queue('resumeQueue', name))
        return True

    def setQueueLimit(self, name, limit):
        if limit is not None and (isinstance(limit, bool) or
                                  not isinstance(limit, int)):
            raise BadParameter(f'setQueueLimit: the limit is an int, or nil '
                               f'for none, not {shown(limit)}')
        self.service.setQueueLimit(_queue('setQueueLimit', name), limit)
        return True

    def getLimits(self):
        return self.service.getLimits()

    def getStranded(self):
        return self.service.getStranded()


class BadParameter(Exception):
    """A parameter of the wrong type or out of range (fault -32602)."""


def _queue(method, name):
    if not isinstance(name, str):
        raise BadParameter(f'{method}: a queue is named by a string, not '
                           f'{shown(name)}')
    return name


def _jobId(method, jobid):
    if isinstance(jobid, bool) or not isinstance(jobid, int):
        raise BadParameter(f'{method}: a job id is an int, not '
                           f'{shown(jobid)}')
    if not 0 <= jobid <= MAX_JOB_ID:
        raise UnknownJobError(jobid)
    return jobid


#: The methods and the right each needs.
RIGHTS = dict(getAvailableTasks=READ, add=ADD, cancel=MANAGE,
              getStatus=READ, getResult=READ, getError=READ,
              startJob=MANAGE, retry=MANAGE, retryAll=MANAGE, runNow=MANAGE,
              pauseJob=MANAGE, pause=MANAGE, resume=MANAGE, isPaused=READ,
              getChanges=READ, undoJob=MANAGE,
              getWorkflow=READ, cancelWorkflow=MANAGE, retryWorkflow=MANAGE,
              getBatch=READ, closeBatch=ADD, getQueues=READ,
              pauseQueue=MANAGE, resumeQueue=MANAGE, setQueueLimit=MANAGE,
              getLimits=READ, getStranded=READ)


def endpoint(ctx, service):
    entry = ctx.service(service)
    try:
        params, name = loads(ctx.request.body)
    except DefusedXmlException as error:
        return fault(ctx, PARSE_ERROR,
                     f'refused: {error}; an XML-RPC request may not hold a '
                     f'DTD, entity declarations or external references')
    except (ExpatError, xmlrpc.client.Error, ValueError, TypeError,
            IndexError) as error:
        return fault(ctx, PARSE_ERROR,
                     f'not a well-formed XML-RPC request: '
                     f'{type(error).__name__}: {error}')
    if name not in RIGHTS:
        return fault(ctx, UNKNOWN_METHOD,
                     f'unknown method {shown(name)}; this service offers '
                     f'{", ".join(sorted(RIGHTS))}')
    ctx.require(RIGHTS[name])
    method = getattr(Methods(ctx, entry.service), name)
    try:
        inspect.signature(method).bind(*params)
        checkDepth(params, 'the call')
    except TypeError as error:
        return fault(ctx, INVALID_PARAMS, f'{name}: {error}')
    except HTTPError as error:
        return fault(ctx, INVALID_PARAMS, f'{name}: {error.message}')
    try:
        result = method(*params)
    except BadParameter as error:
        return fault(ctx, INVALID_PARAMS, str(error))
    except (UnknownJobError, JobStateError) as error:
        code = INVALID_PARAMS if isinstance(error, UnknownJobError) \
            else APPLICATION_ERROR
        return fault(ctx, code, str(error))
    except RemoteTaskError as error:
        return fault(ctx, INVALID_PARAMS, str(error))
    try:
        body = xmlrpc.client.dumps((result,), methodresponse=True,
                                   allow_none=True)
    except (TypeError, OverflowError, RecursionError) as error:
        return fault(ctx, INTERNAL_ERROR,
                     f'the answer to {name} cannot be sent over XML-RPC: '
                     f'{type(error).__name__}: {error}')
    bad = _NOT_XML.search(body)
    if bad is not None:
        return fault(ctx, INTERNAL_ERROR,
                     f'the answer to {name} cannot be sent over XML-RPC: it '
                     f'holds the character {ascii(bad.group())}, which XML '
                     f'cannot carry')
    return _response(body)


#: What XML 1.0 cannot carry, not even as a character reference: most
#: control characters, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile('[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd'
                      '\U00010000-\U0010ffff]')


def loads(data: bytes):
    """(params, method name) of an XML-RPC request, parsed safely."""
    unmarshaller = xmlrpc.client.Unmarshaller(use_builtin_types=True)
    parser = DefusedExpatParser(unmarshaller, forbid_dtd=True,
                                forbid_entities=True, forbid_external=True)
    parser.feed(data)
    parser.close()
    params = unmarshaller.close()
    name = unmarshaller.getmethodname()
    if not isinstance(name, str):
        raise ValueError('there is no <methodName>')
    return params, name


def fault(ctx, code: int, message: str):
    """A fault: nothing the request did is committed.

    What XML cannot carry in the message (the core's messages may quote a
    client's value) is escaped as Python would write it.
    """
    ctx.tm.doom()
    message = _NOT_XML.sub(lambda found: ascii(found.group())[1:-1], message)
    return _response(xmlrpc.client.dumps(
        xmlrpc.client.Fault(code, message), methodresponse=True))


def _response(body: str):
    return webob.Response(body=body.encode('utf-8'), content_type='text/xml',
                          charset='utf-8')


def errorResponse(request, error, identity, app) -> webob.Response:
    """HTTP errors (auth, size, unknown service) as plain text."""
    response = webob.Response(body=error.message.encode('utf-8',
                                                        'backslashreplace'),
                              status=error.status, content_type='text/plain',
                              charset='utf-8')
    response.headers.update(error.headers)
    return response
