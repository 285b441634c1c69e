"""Per-rule conda environments (envs/*.yaml): each parses, pins exactly the lock's versions, and provides
(with the dependencies of what it lists) every third-party package its rules' code imports."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from conftest import REPO

SRC = REPO / "src"
RULE = re.compile(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", re.MULTILINE)
# Snakemake's script preamble puts its own package on sys.path; the adapters import it only when run by hand.
PROVIDED_BY_SNAKEMAKE = {"snakemake"}
# Modules loaded with importlib: the training engines (dltrigger.train.engine_module).
DYNAMIC = {"dltrigger.train": {f"dltrigger.train.{path.stem}" for path in (SRC / "dltrigger" / "train").glob("*_engine.py")}}
# Scripts that may run the keras engine's code: rule keras_env installs its lock's packages into a layer of
# their environment first (engine_environment in rules/common.smk). (train_trees shares train.py and never
# takes the keras engine.)
KERAS_SCRIPTS = {"train.py", "export_onnx.py", "scalability.py"}


def lock(names=("requirements.lock",)) -> dict[str, str]:
    pins = {}
    for name in names:
        for line in (REPO / "envs" / name).read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                package, version = line.split("==")
                pins[canonical(package)] = version
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_packages(path: Path) -> dict[str, str]:
    """{package: version} of a conda env file (conda-forge specs `name =version`, pip `name==version`)."""
    spec = yaml.safe_load(path.read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"], path.name
    packages = {}
    for entry in spec["dependencies"]:
        for item in entry["pip"] if isinstance(entry, dict) else [entry]:
            name, version = re.fullmatch(r"([\w.-]+)\s*(?:==?\s*(\S+))?", item.strip()).groups()
            packages[canonical(name)] = version
    return packages


def rules_with_envs() -> list[tuple[str, str, str | None]]:
    """(rule, conda env file, script) of every rule in rules/*.smk."""
    found = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for name, body in RULE.findall(smk.read_text()):
            env = re.search(r"conda:\s*\n\s*\"\.\./envs/([\w.-]+)\"", body)
            script = re.search(r"script:\s*\n\s*\"\.\./scripts/([\w.-]+)\"", body)
            found.append((name, env and env.group(1), script and script.group(1)))
    return found


def module_path(name: str) -> Path | None:
    if name == "_helpers":  # the adapters' shared helpers, beside them in scripts/
        return REPO / "scripts" / "_helpers.py"
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports(path: Path, module: str | None) -> tuple[set[str], set[str]]:
    """(dltrigger modules imported when the file loads, top-level names of every other import anywhere in
    it: function-level imports included, since the rule's job runs those functions; optional ones not)."""
    package = module if path.name == "__init__.py" else (module.rsplit(".", 1)[0] if module else None)
    tree = ast.parse(path.read_text())
    at_load = {id(node) for top in tree.body for node in ast.walk(top) if not isinstance(top, (ast.FunctionDef, ast.ClassDef))}
    optional = {  # imports guarded by `except ImportError`
        id(node)
        for guard in ast.walk(tree)
        if isinstance(guard, ast.Try) and any(ast.unparse(h.type or ast.Name("")) in ("ImportError", "ModuleNotFoundError") for h in guard.handlers)
        for statement in guard.body
        for node in ast.walk(statement)
    }
    own, third = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" if module_path(f"{base}.{alias.name}") else base for alias in node.names]
        else:
            continue
        if id(node) in optional:
            continue
        for name in names:
            if name.split(".")[0] in ("dltrigger", "_helpers"):
                if id(node) in at_load:
                    own.add(name)
            elif name.split(".")[0] not in sys.stdlib_module_names and name != "__future__":
                third.add(name.split(".")[0])
    return own, third


def needed_distributions(script: str) -> set[str]:
    """Distributions behind the third-party imports of a script and the dltrigger modules it loads."""
    distributions = metadata.packages_distributions()
    todo, seen, names = [(REPO / "scripts" / script, None)], set(), set()
    while todo:
        path, module = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        own, third = imports(path, module)
        own |= DYNAMIC.get(module, set())
        names |= third
        for name in own:
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # a submodule loads its parent packages too
                prefix = ".".join(parts[:depth])
                if module_path(prefix):
                    todo.append((module_path(prefix), prefix))
    return {canonical(dist) for name in names for dist in distributions.get(name, [name])} - PROVIDED_BY_SNAKEMAKE


def with_dependencies(packages) -> set[str]:
    """The packages and, transitively, what the installed ones require (markers evaluated here)."""
    from packaging.requirements import Requirement

    closure, todo = set(), [canonical(p) for p in packages]
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # conda-only entries (python, openjdk, pip)
        for text in requirements:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonical(requirement.name))
    return closure


ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_every_env_file_pins_exactly_the_lock_versions(path):
    pins, packages = lock(), env_packages(path)
    assert packages.pop("python") == "3.11"
    for name, version in packages.items():
        if name in {"openjdk", "pip"}:
            continue
        assert name in pins, f"{path.name}: {name} is not in envs/requirements.lock"
        assert version == pins[name], f"{path.name}: {name}=={version}, the lock has {pins[name]}"


def test_every_rule_runs_its_script_in_an_env_that_provides_its_imports():
    rules = rules_with_envs()
    scripts = [(rule, env, script) for rule, env, script in rules if script]
    assert len(scripts) >= 15
    for rule, env, script in scripts:
        assert env, f"rule {rule} has no conda env"
        provided = with_dependencies(env_packages(REPO / "envs" / env)) | (set(lock(["keras.lock"])) if script in KERAS_SCRIPTS else set())
        missing = needed_distributions(script) - provided
        assert not missing, f"rule {rule} ({env}) lacks {sorted(missing)}"
    used = {env for _, env, _ in rules if env}
    assert used == {path.name for path in ENV_FILES}, "an env file that no rule uses"


def test_the_keras_layer_adds_only_what_the_main_lock_lacks():
    """envs/keras.lock pins packages the workflow's environment does not have (installed without their
    dependencies, they can shadow none of it), and TensorFlow is in no other lock or env file."""
    main, layer = lock(), lock(["keras.lock"])
    assert {"tensorflow-cpu", "tf-keras", "tf2onnx"} <= set(layer) and not set(layer) & set(main)
    assert not any("tensorflow" in env_packages(path) or "tensorflow-cpu" in env_packages(path) for path in ENV_FILES)
