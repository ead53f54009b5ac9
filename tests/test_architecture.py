"""The package's import structure: no cycles, and the library core never imports the app layer."""

from __future__ import annotations

from pathlib import Path

import grimp

import ncf

#: The layers the application builds on; none of them may import ``ncf.app`` or ``ncf.cli``.
CORE = ("ncf.data", "ncf.models", "ncf.training", "ncf.evaluation", "ncf.retrieval", "ncf.index", "ncf.sampling",
        "ncf.losses", "ncf.nn", "ncf.persistence", "ncf.config", "ncf.errors")


#: The layers above the core.
OUTER = ("ncf.app", "ncf.cli", "ncf.serving", "ncf.viz")


def _graph(*, type_checking: bool = False) -> grimp.ImportGraph:
    """Every import that runs, those inside functions included; with ``type_checking`` also the
    imports under ``if TYPE_CHECKING:``, which never run and so cannot form a cycle.

    Built afresh (a fraction of a second): grimp's on-disk cache keeps one record of file times for
    both settings, so a graph of one setting can be served stale after a build of the other."""
    return grimp.build_graph("ncf", exclude_type_checking_imports=not type_checking, cache_dir=None)


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


def test_the_graph_holds_imports_inside_functions():
    """The cycle check sees function-level imports: ``ModelSpec`` imports its builder table inside a
    method (the table imports the model classes, so torch), and the table names ``ModelSpec`` only
    for the type checker, so neither closes a cycle."""
    graph = _graph()
    assert graph.direct_import_exists(importer="ncf.app.model_spec", imported="ncf.app.model_builders")
    assert not graph.direct_import_exists(importer="ncf.app.model_builders", imported="ncf.app.model_spec")
    assert _graph(type_checking=True).direct_import_exists(importer="ncf.app.model_builders",
                                                           imported="ncf.app.model_spec")


def test_the_core_never_imports_the_application_layer():
    graph = _graph()
    for core in CORE:
        for outer in (*OUTER, "ncf.app.model_spec"):
            chains = graph.find_shortest_chains(importer=core, imported=outer)
            assert not chains, f"{core} reaches {outer}: {sorted(chains)[:3]}"


def test_not_even_the_type_checker_sees_the_core_import_the_application_layer():
    graph = _graph(type_checking=True)
    for core in CORE:
        for outer in OUTER:
            chains = graph.find_shortest_chains(importer=core, imported=outer)
            assert not chains, f"{core} reaches {outer} under TYPE_CHECKING: {sorted(chains)[:3]}"


def test_the_core_knows_nothing_of_run_options():
    """``ModelSpec`` (the ``ncf train`` model options) is the application layer's: no core module
    names it, not even in a docstring, and no model maps run options onto its constructor."""
    src = Path(ncf.__file__).parent
    for core in CORE:
        path = src.joinpath(*core.split(".")[1:])
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        assert files, core
        for file in files:
            text = file.read_text(encoding="utf-8")
            for word in ("ModelSpec", "model_spec", "spec_options", "spec_kwargs", "from_spec"):
                assert word not in text, f"{file.relative_to(src)} mentions {word}"
