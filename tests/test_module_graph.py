"""The package's shape: imports point downward only (runtime < domain < fns < cli), there are
no import cycles, and no function module imports another one; every registered function
module provides the contract (runtime.contract.FunctionModule).

Read from the source with ast (no import side effects); imports under `if TYPE_CHECKING:`
are type hints only and are ignored. Lazy imports inside functions count.
"""

import ast
import inspect
from pathlib import Path

import pytest

from helpers import REPO
from kfkrm.fns.registry import FUNCTIONS
from kfkrm.runtime.config import FunctionConfig

PACKAGE = REPO / "functions" / "kfkrm"
LAYERS = {"runtime": 0, "domain": 1, "fns": 2, "cli": 3}
# fns/ modules that are not functions: the registry (names function modules as strings,
# imports none) and the generated examples.
FNS_INFRASTRUCTURE = {"kfkrm.fns", "kfkrm.fns.registry", "kfkrm.fns.examples"}
# The profile composes functions through their public Config and transform (and public
# sub-models); nothing else in fns/ may import a function module.
MAY_IMPORT_FUNCTIONS = {"kfkrm.fns.enterprise_profile"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """The kfkrm modules `path` imports at run time (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.split(".")[0] == "kfkrm")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.split(".")[0] != "kfkrm":
                    continue
                for alias in child.names:  # `from . import x` may name a module
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if candidate in MODULES else target)
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in MODULES} - {module}


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {m: _imports(p) for m, p in MODULES.items()}


def _layer(module: str):
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_the_graph_is_read():
    assert GRAPH["kfkrm.cli.main"] >= {"kfkrm.fns.registry", "kfkrm.runtime.runner"}
    assert "kfkrm.runtime.resourcelist" in GRAPH["kfkrm.runtime.runner"]
    assert "kfkrm.runtime.resourcelist" not in GRAPH["kfkrm.runtime.results"]  # a TYPE_CHECKING import


def test_imports_point_downward_only():
    upward = []
    for module, imports in GRAPH.items():
        for target in imports:
            mine, theirs = _layer(module), _layer(target)
            if theirs is None:  # kfkrm itself (__version__) or __main__
                if target != "kfkrm":
                    upward.append((module, target))
            elif mine is None:  # kfkrm.__main__ runs the CLI
                continue
            elif theirs > mine:
                upward.append((module, target))
    assert upward == []


def test_no_import_cycles():
    cycles, state = [], {}

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_function_module_imports_another():
    function_modules = {spec.module for spec in FUNCTIONS}
    assert function_modules <= set(MODULES)
    offenders = [
        (m, t)
        for m, imports in GRAPH.items()
        for t in imports
        if _layer(m) == 2 and m not in MAY_IMPORT_FUNCTIONS and t in function_modules
    ]
    assert offenders == []
    # nothing in fns/ is a module the registry does not know, except its infrastructure
    assert {m for m in MODULES if m.startswith("kfkrm.fns")} == function_modules | FNS_INFRASTRUCTURE


def test_the_profile_uses_only_public_names_of_the_functions_it_composes():
    """It imports function modules (`from . import image_proxy`) for their Config, transform
    and the public sub-models its own config reuses (image_proxy.Rule), never a _private name."""
    function_names = {spec.module.rpartition(".")[2] for spec in FUNCTIONS}
    tree = ast.parse(MODULES["kfkrm.fns.enterprise_profile"].read_text())
    private = sorted(
        {
            f"{n.value.id}.{n.attr}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name)
            and n.value.id in function_names
            and n.attr.startswith("_")
        }
    )
    assert private == []


@pytest.mark.parametrize("spec", FUNCTIONS, ids=[s.name for s in FUNCTIONS])
def test_every_function_module_provides_the_contract(spec):
    module = spec.load()
    assert issubclass(module.Config, FunctionConfig) and module.Config.KIND == spec.kind
    assert list(inspect.signature(module.transform).parameters)[:2] == ["rl", "config"]
    assert spec.summary and len(spec.summary) <= 100 and "\n" not in spec.summary
    assert spec.module == f"kfkrm.fns.{spec.name.replace('-', '_')}"  # found by its name alone
    assert (REPO / "docs" / "functions" / f"{spec.name}.md").exists()
    assert (REPO / "examples" / f"{spec.name}-simple" / "fn-config.yaml").exists()
