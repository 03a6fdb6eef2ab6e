# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""The test bed's modules import one another one way only."""

import ast
import os

import testbed

PACKAGE = os.path.dirname(testbed.__file__)


def _modules():
    """{dotted name: path} of every module of the testbed package."""
    found = {}
    for folder, _dirs, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith('.py'):
                continue
            rel = os.path.relpath(os.path.join(folder, name), PACKAGE)
            parts = ['testbed'] + rel[: -len('.py')].split(os.sep)
            if parts[-1] == '__init__':
                parts.pop()
            found['.'.join(parts)] = os.path.join(folder, name)
    return found


def _is_main_guard(node):
    """True for ``if __name__ == '__main__':``, run only as a script."""
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == '__name__'
        and any(
            isinstance(c, ast.Constant) and c.value == '__main__'
            for c in test.comparators
        )
    )


def _imported(tree, modules):
    """Testbed modules a module imports when it is imported: statements at
    module level (in try and if blocks too), not in functions, classes or
    the ``__main__`` guard.
    """
    names = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_main_guard(node):
            continue
        if isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse
            todo += getattr(node, 'finalbody', [])
            for handler in getattr(node, 'handlers', []):
                todo += handler.body
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(node.module + '.' + a.name for a in node.names)
    return {n for n in names if n in modules}


def import_graph():
    """{module: set of testbed modules it imports at import time}."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        with open(path) as f:
            graph[name] = _imported(ast.parse(f.read(), path), modules)
    return graph


def find_cycle(graph):
    """Return one import cycle as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = 'open'
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 'open':
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [nxt])
                if cycle:
                    return cycle
        state[node] = 'done'
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def test_testbed_import_graph_has_no_cycle():
    graph = import_graph()
    assert 'testbed.hosts' in graph['testbed.hosts_cli']
    assert 'testbed.procs' in graph['testbed.cloud.procs']
    assert find_cycle(graph) is None


def test_the_host_pair_does_not_import_its_command_line():
    graph = import_graph()
    assert 'testbed.hosts_cli' not in graph['testbed.hosts']


def test_find_cycle_names_the_modules_of_a_cycle():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert find_cycle(graph) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None
