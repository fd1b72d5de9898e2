"""The three import floors of ../shared/ARCHITECTURE.md, read from the source (ast) of
every module of the project, lazy imports inside functions included:

    tools, reasoner   import no other package of the project
    planner, evals    import only tools and reasoner
    agent             on top: may import any of them
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "planner", "tools", "reasoner", "evals")
ALLOWED = {"tools": {"tools"}, "reasoner": {"reasoner"}, "planner": {"planner", "tools", "reasoner"},
           "evals": {"evals", "tools", "reasoner"}, "agent": set(PACKAGES)}


def module_names(package: str | None = None) -> list[str]:
    """Every module of the project (or of one package), by dotted name, from the files."""
    names = []
    for pkg in ([package] if package else PACKAGES):
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


def _path(module: str) -> Path:
    base = REPO.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def imported_packages(module: str) -> dict[str, int]:
    """Project packages `module` imports (top-level name → first line), relative imports resolved."""
    path = _path(module)
    return packages_in_source(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")


def packages_in_source(source: str, module: str, *, is_package: bool = False) -> dict[str, int]:
    """`imported_packages` for the source text of `module`."""
    tree = ast.parse(source)
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                targets = [".".join([*base, node.module] if node.module else base)]
            else:
                targets = [node.module or ""]
        else:
            continue
        for target in targets:
            top = target.split(".")[0]
            if top in PACKAGES:
                found.setdefault(top, node.lineno)
    return found


def floor_violations(package: str | None = None) -> list[str]:
    """`module:line imports X` for every import that breaks its package's floor."""
    problems = []
    for module in module_names(package):
        allowed = ALLOWED[module.split(".")[0]]
        for top, line in sorted(imported_packages(module).items()):
            if top not in allowed:
                problems.append(f"{module}:{line} imports {top}")
    return problems
