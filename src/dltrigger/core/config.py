"""Configuration and sample sheet: schema validation (with defaults), seeds, and one-line errors.

Snakemake's ``rules/common.smk`` and the package's own command line both go through these functions,
so a malformed config fails the same way everywhere: one line naming the key (or sample-sheet row) and
what is wrong, before any job runs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from importlib import resources

import jsonschema
import pandas as pd
import yaml

from .errors import ConfigError
from .registry import MODELS, model_setting
from .schema import LABELS
from .sources import is_remote, local_files

SAMPLE_COLUMNS = ["sample", "label", "source", "process"]


def _load_schema(name: str) -> dict:
    """A schema shipped with the package (core/schemas/), found wherever the package is installed."""
    return yaml.safe_load(resources.files(__package__).joinpath("schemas", name).read_text())


def _extend_with_defaults(validator_class):
    """A validator that fills in ``default`` values while validating (what snakemake's validate does)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _extend_with_defaults(jsonschema.Draft202012Validator)


def _error_line(error: jsonschema.ValidationError, where: str) -> str:
    if error.validator == "oneOf" and error.context:  # a value of neither form: why the form of its type fails
        of_its_type = [reason for reason in error.context if reason.validator != "type" or reason.relative_path]
        error = jsonschema.exceptions.best_match(of_its_type or error.context)
    path = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        return f"{where}: {path}: {error.message}"
    return f"{where}: key '{path}': {error.message}"


def validate_config(config: dict, where: str = "config") -> dict:
    """Validate ``config`` in place against the schema, filling defaults; raise ConfigError on the first problem."""
    validator = _DefaultFillingValidator(_load_schema("config.schema.yaml"))
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_error_line(errors[0], where))
    cut = config["generate"]["lepton_filter"]
    if cut["prescaled_above"] is not None and (cut["relative_isolation_max"] is None or cut["prescaled_above"] >= cut["relative_isolation_max"]):
        raise ConfigError(f"{where}: key 'generate.lepton_filter.prescaled_above': {cut['prescaled_above']} is not below relative_isolation_max")
    for process, settings in config["generate"]["processes"].items():
        if settings["hard_process_veto"] and settings["leptonic_w"]:
            raise ConfigError(
                f"{where}: key 'generate.processes.{process}': hard_process_veto and leptonic_w are both set; a process takes one process-level hook"
            )
    if config["trigger"]["model"] not in MODELS:
        raise ConfigError(f"{where}: key 'trigger.model': '{config['trigger']['model']}' is not a network (known: {', '.join(MODELS)})")
    problem = combination_problem(config)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    for split, path in (config["features"]["external"] or {}).items():
        if not os.path.exists(path):
            raise ConfigError(f"{where}: key 'features.external.{split}': '{path}' does not exist")
    return config


def trained_networks(config: dict) -> dict[str, str]:
    """The networks a run of ``config`` trains, each with the key that asks for it: train.models', the
    trigger's (exported with the torch or keras engine on the workflow's own events), the scalability
    study's and the engine comparison's."""
    train = config["train"]
    networks = {model: "train.models" for model in train["models"] if model in MODELS}
    if train["engine"] != "bigdl" and not config["features"]["external"]:
        networks.setdefault(config["trigger"]["model"], "trigger.model")
    networks.setdefault(config["scalability"]["model"], "scalability.model")
    return networks


def combination_problem(config: dict) -> str | None:
    """What the training would reject in a valid config's combination of keys, as one line naming them
    (None if nothing): a network its engine does not have, an ensemble with an engine other than torch,
    or a network that needs the rows' global scaling with features.particle_scaling: per_event."""
    engine, networks = config["train"]["engine"], trained_networks(config)
    for model, key in networks.items():
        if engine not in MODELS[model].engines:
            return f"keys '{key}' and 'train.engine': {model} has no {engine} version (engines: {', '.join(MODELS[model].engines)})"
    if engine != "torch":
        # The scalability study measures one training's throughput: its network is never an ensemble.
        ensembles = [model for model, key in networks.items() if key != "scalability.model" and model_setting(config["train"]["ensemble"], model) > 1]
        if ensembles:
            return f"keys 'train.ensemble' and 'train.engine': ensembles ({', '.join(ensembles)}) are trained by the torch engine only, not {engine}"
    compared = config["compare_engines"]
    for model in compared["models"]:
        missing = [engine for engine in compared["engines"] if engine not in MODELS[model].engines]
        if missing:
            return f"keys 'compare_engines.models' and 'compare_engines.engines': {model} has no {missing[0]} version"
    if config["features"]["particle_scaling"] == "per_event" and not config["features"]["external"]:
        for model, key in networks.items():
            if MODELS[model].undoes_particle_scaling:
                return (
                    f"keys '{key}' and 'features.particle_scaling': {model} computes its pair features from the unscaled "
                    "momenta and needs features.particle_scaling: global"
                )
    return None


def load_config(path: str | os.PathLike, *overlays: str | os.PathLike) -> dict:
    """Read a YAML config file, and the ``overlays`` on top of it as Snakemake combines config files (a
    key of a later file replaces the earlier one's, mappings merged key by key), and validate the result
    (used by scripts run by hand, the benchmarks and the tests)."""
    config = {}
    for name in (path, *overlays):
        _merge(config, _read_yaml(name))
    return validate_config(config, where=" + ".join(str(name) for name in (path, *overlays)))


def _read_yaml(path: str | os.PathLike) -> dict:
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(config).__name__}")
    return config


def _merge(base: dict, overlay: dict) -> dict:
    for key, value in overlay.items():
        base[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


def load_samples(path: str | os.PathLike, config: dict) -> pd.DataFrame:
    """Read and check the sample sheet: schema per row, unique names, known processes, existing sources."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, comment="#", keep_default_na=False)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    missing = [column for column in SAMPLE_COLUMNS if column not in table.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(SAMPLE_COLUMNS)})")
    if table.empty:
        raise ConfigError(f"{path}: no samples listed")
    table = table[SAMPLE_COLUMNS].apply(lambda column: column.str.strip())
    validator = jsonschema.Draft202012Validator(_load_schema("samples.schema.yaml"))
    known_processes = set(config["generate"]["processes"])
    for index, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        where = f"{path}, line {index} (sample '{row['sample']}')"
        for error in validator.iter_errors(row):
            field = ".".join(str(part) for part in error.absolute_path) or "row"
            raise ConfigError(f"{where}: column '{field}': {error.message}")
        if row["source"] == "generate":
            if row["process"] not in known_processes:
                raise ConfigError(
                    f"{where}: unknown process '{row['process']}' (known: {', '.join(sorted(known_processes))}; add it under generate.processes)"
                )
        elif not is_remote(row["source"]) and not local_files(row["source"]):
            raise ConfigError(f"{where}: source '{row['source']}' matches no existing file")
    duplicated = table["sample"][table["sample"].duplicated()].tolist()
    if duplicated:
        raise ConfigError(f"{path}: sample name '{duplicated[0]}' is listed more than once")
    absent = [label for label in LABELS if label not in set(table["label"])]
    if absent:
        raise ConfigError(f"{path}: no sample of class {', '.join(absent)}: the classifiers need all of {', '.join(LABELS)}")
    return table.set_index("sample", drop=False)


def derive_seed(master_seed: int, *keys: object) -> int:
    """A seed in Pythia's range 1..900,000,000, derived deterministically from the master seed and keys.

    A hash (not ``master_seed + chunk``) keeps the streams of different samples and chunks unrelated,
    and is stable across processes and machines (unlike Python's ``hash``).
    """
    digest = hashlib.sha256("/".join(map(str, (master_seed, *keys))).encode()).digest()
    return int.from_bytes(digest[:8], "little") % 900_000_000 + 1


def check_pythia_settings(config: dict, processes=None) -> None:
    """Reject extra Pythia settings that Pythia does not know (of ``processes``, default all), in one line."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for process, settings in config["generate"]["processes"].items():
        if processes is not None and process not in processes:
            continue
        for line in settings["pythia"]:
            if not pythia.readString(line, False):
                raise ConfigError(f"config: key 'generate.processes.{process}.pythia': Pythia does not accept '{line}'")


def config_hash(config: dict) -> str:
    """Short digest of the configuration (key order does not matter)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
