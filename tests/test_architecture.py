"""The package's structure, as the README's "Architecture" section draws it, read from its folders: the
layers core, physics, models and tools below, the stages side by side above them. A stage imports the
layers and itself, never another stage; a layer imports only the layers below it; nothing in the package
imports Snakemake."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "dltrigger"
# The layers below the stages, by folder, and what each may import besides itself. Every other top-level
# module or folder of the package is a stage: it imports these layers and itself, never another stage.
LAYERS = {"core": set(), "physics": {"core"}, "models": {"core", "physics"}, "tools": {"core"}}


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


def modules():
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path != PACKAGE / "__init__.py"]


def test_the_layers_and_the_stages_are_folders_or_modules_of_the_package():
    names = {top_level(path) for path in modules()}
    assert set(LAYERS) <= names
    assert names - set(LAYERS) == {"generate", "ingest", "features", "train", "evaluate", "scalability", "trigger"}


def test_no_stage_imports_another_and_each_layer_only_those_below_it():
    crossings = []
    for path in modules():
        mine = top_level(path)
        allowed = LAYERS[mine] if mine in LAYERS else set(LAYERS)
        for name in imported(path) - {"snakemake", "__version__", mine}:
            if name not in allowed:
                crossings.append(f"{path.relative_to(PACKAGE)} ({mine}) imports {name}")
    assert crossings == []


def test_the_package_knows_nothing_of_snakemake():
    users = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if "snakemake" in imported(path)]
    assert users == []
