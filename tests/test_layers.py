"""The layers of shared/DESIGN.md: apps above adapters above the core, no import circles, and
among the apps only imports that point down (docs/design.md, "Layers and apps").

Every import statement counts, wherever it stands (module level, inside a function, under
``TYPE_CHECKING``): a lazy import still ties the modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder -> import name, as pyproject's package-dir maps them
PACKAGES = {
    ROOT / "core": "clipbridge",
    ROOT / "integrations" / "llama_index": "llama_index.embeddings.clipbridge",
    ROOT / "integrations" / "langchain": "langchain_clipbridge",
    ROOT / "integrations" / "haystack": "haystack_integrations.components.embedders.clipbridge",
}
ADAPTERS = tuple(name for name in PACKAGES.values() if name != "clipbridge")
# The apps: each a subpackage of clipbridge, above the core; in layers, lowest first. An app
# imports only apps of a lower layer: the command's shared options at the bottom, the Ray engine
# above the index whose engine interface it implements, the server above Ray (serve --ray).
APP_LAYERS = (
    ("clipbridge.cli",),
    (
        "clipbridge.demo",
        "clipbridge.index",
        "clipbridge.search",
        "clipbridge.eval",
        "clipbridge.export",
    ),
    ("clipbridge.ray",),
    ("clipbridge.serve",),
)
APPS = tuple(app for layer in APP_LAYERS for app in layer)
FRAMEWORKS = ("llama_index", "langchain", "langchain_core", "haystack", "haystack_integrations")


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> set[str]:
    """Every module name ``module`` imports, relative imports resolved."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    here = module if _is_package(module) else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            # ``from pkg import sub`` imports the submodule pkg.sub
            names.update(
                f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES
            )
    return names


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _core_modules() -> list[str]:
    return sorted(m for m in MODULES if _within(m, ("clipbridge",)) and not _within(m, APPS))


def test_the_module_list_is_read():
    assert "clipbridge.embedder" in MODULES and "clipbridge.cli.main" in MODULES
    assert "clipbridge.images" in _core_modules()
    assert "clipbridge.demo.run" not in _core_modules()


@pytest.mark.parametrize("module", _core_modules())
def test_the_core_imports_no_app_and_no_adapter(module):
    wrong = sorted(name for name in _imports(module) if _within(name, APPS + ADAPTERS + FRAMEWORKS))
    assert not wrong, f"{module} (core) imports {wrong}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _within(m, ADAPTERS)))
def test_adapters_import_no_app(module):
    wrong = sorted(name for name in _imports(module) if _within(name, APPS))
    assert not wrong, f"{module} (adapter) imports {wrong}"


def _app_of(name: str) -> str | None:
    return next((app for app in APPS if _within(name, (app,))), None)


def _layer(app: str) -> int:
    return next(n for n, layer in enumerate(APP_LAYERS) if app in layer)


def _app_imports_not_below(module: str) -> list[str]:
    """What ``module`` (of an app) imports from another app of its own layer or above."""
    here = _layer(_app_of(module))
    return sorted(
        name
        for name in _imports(module)
        if _app_of(name) not in (None, _app_of(module)) and _layer(_app_of(name)) >= here
    )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _within(m, APPS)))
def test_apps_import_only_apps_below_them(module):
    wrong = _app_imports_not_below(module)
    assert not wrong, f"{module} ({_app_of(module)}) imports {wrong}: an app above it or beside it"


def test_the_app_rule_finds_an_import_up_or_sideways(monkeypatch):
    # The index once imported its Ray engine (lazily): index -> ray pointed up, ray -> index back.
    fake = {
        "clipbridge.index.pipeline": {"clipbridge.ray.indexing", "clipbridge.index.output"},
        "clipbridge.search.run": {"clipbridge.index.engines", "clipbridge.cli.options"},
    }
    real = _imports
    monkeypatch.setitem(globals(), "_imports", lambda m: fake.get(m, real(m)))
    assert _app_imports_not_below("clipbridge.index.pipeline") == ["clipbridge.ray.indexing"]
    assert _app_imports_not_below("clipbridge.search.run") == ["clipbridge.index.engines"]
    assert _app_imports_not_below("clipbridge.ray.indexing") == []  # down is fine


def _cycles() -> list[list[str]]:
    graph = {m: sorted(n for n in _imports(m) if n in MODULES and n != m) for m in MODULES}
    cycles, state = [], dict.fromkeys(graph, 0)  # 0 new, 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state[nxt] == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif state[nxt] == 0:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in graph:
        if state[node] == 0:
            visit(node, [node])
    return cycles


def test_no_import_circles():
    assert _cycles() == []


def test_the_cycle_finder_finds_a_circle(monkeypatch):
    # A check that cannot fail proves nothing: feed it a known circle.
    fake = {
        "clipbridge.cli.main": {"clipbridge.demo.command"},
        "clipbridge.demo.command": {"clipbridge.cli.main"},
    }
    real = _imports
    monkeypatch.setitem(globals(), "_imports", lambda m: fake.get(m, real(m)))
    assert ["clipbridge.cli.main", "clipbridge.demo.command", "clipbridge.cli.main"] in _cycles()
