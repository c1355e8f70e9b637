"""The floor plan's rules, measured on the source: no import circle among ganbench's modules, no function over 60
lines, no file over 400 lines, and every module imports in a fresh interpreter."""
import ast
import subprocess
import sys
from pathlib import Path

import ganbench

ROOT = Path(ganbench.__file__).resolve().parent
MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 400


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _target(name: str, known: dict) -> str | None:
    """The ganbench module an imported name lives in (a package's face when the name is not a module)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the ganbench modules it imports when it is imported (statements at module level, not inside
    functions, where ganbench defers imports on purpose)."""
    graph = {}
    for mod, path in known.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        edges = set()
        for node in ast.parse(path.read_text()).body:  # module level only, including try/if blocks below
            for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                 ast.ClassDef)) else []:
                if isinstance(sub, ast.Import):
                    names = [a.name for a in sub.names]
                elif isinstance(sub, ast.ImportFrom):
                    base = sub.module or ""
                    if sub.level:
                        base = ".".join(package.split(".")[:len(package.split(".")) - sub.level + 1] +
                                        ([base] if base else []))
                    names = [f"{base}.{a.name}" for a in sub.names]
                else:
                    continue
                edges |= {t for n in names if n.startswith("ganbench") and (t := _target(n, known)) and t != mod}
        graph[mod] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    known = modules()
    graph = import_graph(known)
    assert graph["ganbench.training.loop"] >= {"ganbench.training.checkpoint", "ganbench.suite.plan"}  # it sees
    assert cycles(graph) == []


def test_the_circle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(modules())
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def sizes() -> tuple[list[str], list[str]]:
    """(files over MAX_FILE_LINES, functions over MAX_FUNCTION_LINES), as 'path: n lines' / 'path:name n lines'."""
    files, functions = [], []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(ROOT.parent)
        if len(text.splitlines()) > MAX_FILE_LINES:
            files.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    functions.append(f"{rel}:{node.name} {n} lines")
    return files, functions


def test_no_file_over_400_lines():
    assert sizes()[0] == []


def test_no_function_over_60_lines():
    assert sizes()[1] == []
