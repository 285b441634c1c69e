"""The package's structure, as the README's "Architecture" section draws it: stage modules side by side on
a shared bottom layer. A stage imports only its own modules and the shared layer, never another stage;
the shared layer imports only itself; nothing in the package imports Snakemake."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "dltrigger"
# Every module of the package belongs to exactly one of these (top-level name: module or subpackage).
STAGES = {
    "generate": {"generate"},
    "ingest": {"ingest"},
    "features": {"features"},
    "train": {"train", "bigdl_job"},
    "evaluate": {"evaluate", "uncertainty", "plots", "summary", "compare"},
    "scalability": {"scalability"},
    "export": {"export"},
    "trigger": {"stream"},
}
SHARED = {
    "schema",
    "errors",
    "files",
    "arrays",
    "kinematics",
    "spark",
    "sources",
    "delphes",
    "config",
    "faults",
    "cluster",
    "selection",
    "observables",
    "quirks",
    "preprocess",
    "statistics",
    "models",
    "environments",
    "checkpoints",
}


def top_level(path: Path) -> str:
    """The package's top-level name a module belongs to (``train`` for train/torch_engine.py)."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported(path: Path) -> set[str]:
    """Top-level names of the package (and 'snakemake') that a module imports, anywhere in it."""
    names = set()
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]  # ('dltrigger', 'train') for train/x.py
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = list(package[: len(package) - node.level + 1])
                target = [*base, *(node.module.split(".") if node.module else [])]
                parts = target[1:] if len(target) > 1 else [alias.name for alias in node.names]
                names.update(parts[:1] if len(target) > 1 else parts)
            elif node.module and node.module.split(".")[0] in ("dltrigger", "snakemake"):
                parts = node.module.split(".")
                names.add(parts[1] if parts[0] == "dltrigger" and len(parts) > 1 else parts[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "snakemake":
                    names.add("snakemake")
                elif parts[0] == "dltrigger" and len(parts) > 1:
                    names.add(parts[1])
    return names


def group_of(name: str) -> str:
    if name in SHARED:
        return "shared"
    return next(stage for stage, members in STAGES.items() if name in members)


def test_every_module_belongs_to_a_stage_or_the_shared_layer():
    names = {top_level(path) for path in PACKAGE.rglob("*.py") if path.name != "__init__.py" or path.parent != PACKAGE}
    unassigned = names - SHARED - set().union(*STAGES.values())
    assert not unassigned, f"modules in no group: {sorted(unassigned)} (add them to STAGES or SHARED, and to the README)"


def test_no_stage_imports_another_and_the_shared_layer_imports_no_stage():
    crossings = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue
        mine = group_of(top_level(path))
        for name in imported(path) - {"snakemake", "__version__"}:
            theirs = group_of(name)
            if theirs != "shared" and theirs != mine:
                crossings.append(f"{path.relative_to(PACKAGE)} ({mine}) imports {name} ({theirs})")
    assert crossings == []


def test_the_package_knows_nothing_of_snakemake():
    users = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if "snakemake" in imported(path)]
    assert users == []
