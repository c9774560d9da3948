"""XML-RPC at ``/xmlrpc/SERVICE``, with the 2009 package's API.

Clients written for the old package keep working::

    proxy = xmlrpc.client.ServerProxy(
        'http://user:TOKEN@host:8080/xmlrpc/mail')
    jobid = proxy.add('echo', {'foo': 'bar'})
    proxy.getStatus(jobid)

The methods are ``getAvailableTasks()`` (the task names, sorted),
``add(task, input)``, ``cancel(jobid)`` (true), ``getStatus(jobid)``,
``getResult(jobid)`` and ``getError(jobid)``; a missing result or error is
``<nil/>``, which ``xmlrpc.client`` reads as None.

The request is parsed by defusedxml's expat parser with DTDs, entities
and external references refused, so an entity bomb ("billion laughs")
costs nothing.  Mistakes are XML-RPC faults with the codes of the
common specification (-32700 parse error, -32601 unknown method, -32602
bad parameters, -32500 a job in the wrong state); authentication errors
are HTTP 401 and 403, which ``xmlrpc.client`` raises as ProtocolError.
"""
import inspect
import xmlrpc.client
from xml.parsers.expat import ExpatError

import webob
from defusedxml.common import DefusedXmlException
from defusedxml.xmlrpc import DefusedExpatParser

from lovely.remotetask.exceptions import (
    JobStateError, RemoteTaskError, UnknownJobError)
from lovely.remotetask.web.auth import MANAGE, READ

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

    def __init__(self, service) -> None:
        self.service = service

    def getAvailableTasks(self):
        return sorted(self.service.getAvailableTasks())

    def add(self, task, input=None):
        return self.service.add(task, input)

    def cancel(self, jobid):
        self.service.cancel(jobid)
        return True   # XML-RPC without <nil/> support needs a value

    def getStatus(self, jobid):
        return self.service.getStatus(jobid)

    def getResult(self, jobid):
        return self.service.getResult(jobid)

    def getError(self, jobid):
        return self.service.getError(jobid)


#: The methods and the right each needs.
RIGHTS = dict(getAvailableTasks=READ, add=MANAGE, cancel=MANAGE,
              getStatus=READ, getResult=READ, getError=READ)


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
                     f'unknown method {name!r}; this service offers '
                     f'{", ".join(sorted(RIGHTS))}')
    ctx.require(RIGHTS[name])
    method = getattr(Methods(entry.service), name)
    try:
        inspect.signature(method).bind(*params)
    except TypeError as error:
        return fault(ctx, INVALID_PARAMS, f'{name}: {error}')
    try:
        result = method(*params)
    except (UnknownJobError, JobStateError) as error:
        code = INVALID_PARAMS if isinstance(error, UnknownJobError) \
            else APPLICATION_ERROR
        return fault(ctx, code, str(error))
    except RemoteTaskError as error:
        return fault(ctx, INVALID_PARAMS, str(error))
    try:
        body = xmlrpc.client.dumps((result,), methodresponse=True,
                                   allow_none=True)
    except (TypeError, OverflowError) as error:
        return fault(ctx, INTERNAL_ERROR,
                     f'the answer to {name} cannot be sent over XML-RPC: '
                     f'{error}')
    return _response(body)


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
    """A fault: nothing the request did is committed."""
    ctx.tm.doom()
    return _response(xmlrpc.client.dumps(
        xmlrpc.client.Fault(code, message), methodresponse=True))


def _response(body: str):
    return webob.Response(body=body.encode('utf-8'), content_type='text/xml',
                          charset='utf-8')


def errorResponse(request, error, identity, app) -> webob.Response:
    """HTTP errors (auth, size, unknown service) as plain text."""
    response = webob.Response(body=error.message.encode('utf-8'),
                              status=error.status, content_type='text/plain',
                              charset='utf-8')
    response.headers.update(error.headers)
    return response

