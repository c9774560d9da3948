"""The package's layers: each folder imports only from the layers below
it (read from the source, imports inside functions included).

    base      interfaces, exceptions, defaults, checks ... (top-level)
    timing    pure arithmetic: schedules, cron, retries
    store     the persistent structures and their one entrance
    runtime   processors, their steps, leases, time limits (and `task`)
    service   TaskService, the 2009 API over the store
    hosts     where services live, and how hosts start them
    faces     the command line, the Web service, metrics, testing

The store knows nothing of threads, hosts, the command line or the Web;
the service nothing of hosts; running nothing of hosts.
"""
import ast
import pathlib
import subprocess
import sys

import lovely.remotetask

PACKAGE = pathlib.Path(lovely.remotetask.__file__).parent
BASE = {'interfaces', 'exceptions', 'defaults', 'checks', 'retrying',
        'paths', 'pickling', 'commits', 'events', 'naming', 'principals',
        'protocols',
        'origins'}
FACES = {'cli', 'web', 'metrics', 'testing', 'serialize', 'commands',
         'reports', 'parsers', 'arguments', '__main__', '__init__', 'job',
         'processor'}
LAYERS = ['base', 'timing', 'store', 'runtime', 'service', 'hosts', 'faces']
#: The seed imported its autostart from `service`: the service package
#: looks these names up from `hosts` only when asked for them.
ALLOWED = {('service', 'hosts.autostart')}


def layerOf(name: str) -> str:
    """The layer of a module given by its name below lovely.remotetask."""
    first = name.split('.')[0]
    if first in LAYERS:
        return first
    if first == 'task':
        return 'runtime'
    if first in BASE:
        return 'base'
    assert first in FACES, f'{name} is in no layer: add it to one'
    return 'faces'


def moduleName(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix('').parts
    return '.'.join(parts)


def imports(path: pathlib.Path):
    """The modules `path` imports: lovely.remotetask's (names below it),
    and others (full names)."""
    tree = ast.parse(path.read_text())
    own, others = set(), set()
    package = moduleName(path).rsplit('.', 1)[0] \
        if path.name != '__init__.py' else moduleName(path.parent / 'x.py')
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) -
                                          node.level + 1]
                module = '.'.join(base + ([node.module] if node.module
                                          else []))
                names = ['lovely.remotetask.' + module]
            else:
                module = node.module
                # `from package import module` imports the module alone.
                names = [f'{module}.{alias.name}' for alias in node.names]
                if not all(_isModule(name) for name in names):
                    names.append(module)
        else:
            continue
        for name in names:
            if name.startswith('lovely.remotetask.'):
                own.add(name[len('lovely.remotetask.'):])
            elif name == 'lovely.remotetask':
                own.update(alias.name for alias in node.names)
            else:
                others.add(name)
    return own, others


def _isModule(name: str) -> bool:
    if not name.startswith('lovely.remotetask.'):
        return False
    path = PACKAGE.joinpath(*name.split('.')[2:])
    return path.with_suffix('.py').exists() or path.is_dir()


def modules():
    for path in sorted(PACKAGE.rglob('*.py')):
        yield moduleName(path), path


def test_every_module_imports_only_from_its_layer_and_below():
    wrong = []
    for name, path in modules():
        layer = LAYERS.index(layerOf(name))
        own, _ = imports(path)
        for target in own:
            try:
                targetLayer = LAYERS.index(layerOf(target))
            except AssertionError:
                continue     # a name imported from a module, not a module
            if targetLayer > layer and \
                    (name.split('.')[0], target) not in ALLOWED:
                wrong.append(f'{name} ({LAYERS[layer]}) imports {target} '
                             f'({LAYERS[targetLayer]})')
    assert not wrong, '\n'.join(wrong)


def test_the_store_and_timing_know_nothing_of_threads():
    for name, path in modules():
        if layerOf(name) in ('store', 'timing'):
            _, others = imports(path)
            assert not {'threading', 'multiprocessing', 'signal'} & {
                other.split('.')[0] for other in others}, name


def test_timing_is_pure_arithmetic():
    for name, path in modules():
        if layerOf(name) == 'timing':
            _, others = imports(path)
            assert not {'ZODB', 'persistent', 'BTrees', 'transaction'} & {
                other.split('.')[0] for other in others}, name


def test_no_module_is_over_400_lines():
    long = [f'{name}: {len(path.read_text().splitlines())}'
            for name, path in modules()
            if len(path.read_text().splitlines()) > 400]
    assert not long, long


#: Functions that are declarative tables (the OpenAPI description of a
#: group of paths), which read best whole.
TABLES = {'web.openapiflows.paths'}


def test_no_function_is_over_60_lines():
    long = []
    for name, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60 and f'{name}.{node.name}' not in TABLES:
                    long.append(f'{name}.{node.name}: {lines}')
    assert not long, long


def test_the_core_does_not_import_the_web_service():
    code = ('import sys, lovely.remotetask, lovely.remotetask.cli, '
            'lovely.remotetask.metrics; '
            'print(sorted(m for m in sys.modules if m.startswith('
            '"lovely.remotetask.web") or m in ("webob", "waitress")))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'
