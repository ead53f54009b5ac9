"""The package's import structure: no cycles, and the library core never imports the app layer."""

from __future__ import annotations

import grimp

#: The layers the application builds on; none of them may import ``ncf.app`` or ``ncf.cli``.
CORE = ("ncf.data", "ncf.models", "ncf.training", "ncf.evaluation", "ncf.retrieval", "ncf.index", "ncf.sampling",
        "ncf.losses", "ncf.nn", "ncf.persistence", "ncf.config", "ncf.errors")


def _graph() -> grimp.ImportGraph:
    # imports under ``if TYPE_CHECKING:`` never run, so they cannot form a cycle
    return grimp.build_graph("ncf", exclude_type_checking_imports=True)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_planted_cycle():
    graph = grimp.ImportGraph()
    for m in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(m)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    assert _cycles(graph) == [["a.x", "a.y"]]


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_core_never_imports_the_application_layer():
    graph = _graph()
    for core in CORE:
        for outer in ("ncf.app", "ncf.cli", "ncf.serving", "ncf.viz"):
            chains = graph.find_shortest_chains(importer=core, imported=outer)
            assert not chains, f"{core} reaches {outer}: {sorted(chains)[:3]}"
