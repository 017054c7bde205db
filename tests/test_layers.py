"""The layering rule, checked on the AST of every module in harness/ (see docs/architecture.md).

    core < {zoo, data} < train < store < report < search < rank < final < budget < cli < harness/__init__

A module imports only from its own subpackage or a lower layer; zoo and data never import each
other; no `_private` name is imported across subpackages; no import cycle between modules. Every
import counts: at module level, inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
# Rank of each room; "core" is every top-level module (errors, registry, ...), "top" the package itself.
RANKS = {"core": 0, "zoo": 1, "data": 1, "train": 2, "store": 3, "report": 4, "search": 5, "rank": 6, "final": 7,
         "budget": 8, "cli": 9, "top": 10}


def module_sources(package: Path = PACKAGE) -> dict[str, str]:
    """Dotted module name -> source text, for every .py file under `package`."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path.read_text()
    return out


def room(module: str) -> str:
    """The subpackage (room) a dotted module name belongs to."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "top"
    return parts[1] if parts[1] in RANKS and parts[1] not in ("core", "top") else "core"


def imports(module: str, source: str, known: set[str]) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names) of every harness import in `source`, wherever it is; a
    `from package import submodule` counts as an import of the submodule."""
    found = []
    is_package = False  # relative imports are resolved against the module's package
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "harness"]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([target] if target else []))
            if target.split(".")[0] != "harness":
                continue
            names = [a.name for a in node.names]
            subs = [n for n in names if f"{target}.{n}" in known]
            if subs:
                found += [(node.lineno, f"{target}.{n}", []) for n in subs]
            rest = [n for n in names if n not in subs]
            if rest or not subs:
                found.append((node.lineno, target, rest))
    return found


def violations(sources: dict[str, str]) -> list[str]:
    """Every breach of the layering rule in `sources` (module name -> text), one line each,
    naming the module, the line and the offending import."""
    known = set(sources)
    problems = []
    graph: dict[str, set[str]] = {m: set() for m in sources}
    for module, text in sources.items():
        here = room(module)
        for line, target, names in imports(module, text, known):
            there = room(target)
            where = f"{module} (line {line}) imports {target}"
            if target in known and target != module:
                graph[module].add(target)
            if there != here:
                if RANKS[there] > RANKS[here]:
                    problems.append(f"{where}: {there} is above {here}")
                elif RANKS[there] == RANKS[here]:
                    problems.append(f"{where}: {here} and {there} must not import each other")
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private:
                    problems.append(f"{where}: private name(s) {', '.join(private)} cross from {there} to {here}")
    problems += [f"import cycle: {' -> '.join(c + [c[0]])}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm), each as
    a sorted list: every import cycle lies in one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_harness_keeps_its_layers():
    problems = violations(module_sources())
    assert not problems, "layering rule broken:\n" + "\n".join(problems)


def test_every_module_is_in_a_known_room():
    rooms = {room(m) for m in module_sources()}
    assert rooms <= set(RANKS), rooms
    assert {"zoo", "data", "train", "store", "report", "search", "rank", "final", "budget", "cli"} <= rooms


@pytest.mark.parametrize(
    "sources, expected",
    [
        # an upward import, even inside a function
        ({"harness.zoo.model": "def f():\n    from harness.search.space import SearchSpace\n",
          "harness.search.space": ""}, "harness.zoo.model (line 2) imports harness.search.space: search is above zoo"),
        # under TYPE_CHECKING
        ({"harness.store.trials": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from harness.search.study import SearchConfig\n",
          "harness.search.study": ""},
         "harness.store.trials (line 3) imports harness.search.study: search is above store"),
        # zoo and data are side by side
        ({"harness.data.image_data": "from harness.zoo.spec import ArchSpec\n", "harness.zoo.spec": ""},
         "harness.data.image_data (line 1) imports harness.zoo.spec: data and zoo must not import each other"),
        # a private name across rooms
        ({"harness.report.html": "from harness.store.trials import _atomic_write\n", "harness.store.trials": ""},
         "private name(s) _atomic_write cross from store to report"),
        # a cycle inside one room
        ({"harness.rank.runs": "from harness.rank.report import write_ranking\n",
          "harness.rank.report": "from harness.rank.runs import Ranking\n"},
         "import cycle: harness.rank.report -> harness.rank.runs -> harness.rank.report"),
        # `from package import submodule` is an import of the submodule
        ({"harness.zoo.model": "from harness.search import space\n", "harness.search": "",
          "harness.search.space": ""}, "harness.zoo.model (line 1) imports harness.search.space: search is above zoo"),
        # core imports nothing of harness's rooms
        ({"harness.errors": "from harness.data.image_data import ImageData\n", "harness.data.image_data": ""},
         "harness.errors (line 1) imports harness.data.image_data: data is above core"),
    ],
)
def test_the_rule_names_each_breach(sources, expected):
    problems = violations(sources)
    assert any(expected in p for p in problems), problems


def test_the_rule_allows_downward_and_same_room_imports():
    sources = {"harness.rank.runs": "from harness.rank.stats import top_group\nfrom harness.zoo.spec import ArchSpec\n"
                                   "from harness.errors import HarnessError\n",
               "harness.rank.stats": "", "harness.zoo.spec": "from harness.errors import SpecError\n",
               "harness.errors": "", "harness": "from harness.rank.runs import run_rank\n"}
    assert violations(sources) == []
