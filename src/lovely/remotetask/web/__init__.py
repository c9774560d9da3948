"""The Web service of lovely.remotetask: JSON API, XML-RPC and dashboard.

``makeApp(db, credentials=...)`` is a WSGI application for the task
services of a ZODB database; ``remotetask serve`` serves it with waitress.
"""
from lovely.remotetask.web.app import Application, makeApp
from lovely.remotetask.web.auth import MANAGE, READ, Credentials
from lovely.remotetask.web.detail import HTML, IJobDetail, provideDetail

__all__ = ['Application', 'Credentials', 'HTML', 'IJobDetail', 'MANAGE',
           'READ', 'makeApp', 'provideDetail']
