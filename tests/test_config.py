"""Config and sample-sheet validation: defaults, seeds, and the one-line messages of bad input."""

from __future__ import annotations

import re

import pytest
import yaml

from dltrigger.core.config import ConfigError, check_pythia_settings, derive_seed, load_config, load_samples, validate_config
from dltrigger.core.registry import ENGINES, REGISTRY

from conftest import REPO


def test_defaults_are_filled_in():
    config = validate_config({"seed": 1, "generate": {"processes": {"ttbar": {"chunks": 1, "events_per_chunk": 5}}}})
    assert config["generate"]["sqrt_s_gev"] == 13000
    assert config["generate"]["lepton_filter"] == {
        "pt_min_gev": 20,
        "eta_max": 2.5,
        "relative_isolation_max": 1.0,
        "prescaled_above": None,
        "prescale": 10,
    }
    assert config["generate"]["processes"]["ttbar"]["redecay"] == 1
    assert config["detector"]["btag_efficiency"] == {"b": 0.7, "c": 0.2, "light": 0.01}
    assert config["pileup"]["mu"] == 0


def test_shipped_configs_are_valid():
    for name in ("config.yaml", "paper.yaml"):
        config = load_config(REPO / "config" / name)
        check_pythia_settings(config)
        assert set(config["generate"]["processes"]) == {"ttbar", "wjets", "qcd"}


@pytest.mark.reliability("bad input")
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["generate"]["processes"]["qcd"].update(events_per_chunk=0),
            "config: key 'generate.processes.qcd.events_per_chunk': 0 is less than the minimum of 1",
        ),
        (
            lambda c: c["generate"]["processes"]["ttbar"].update(chunks="two"),
            "config: key 'generate.processes.ttbar.chunks': 'two' is not of type 'integer'",
        ),
        (
            lambda c: c["generate"]["processes"].update(zprime={"chunks": 1, "events_per_chunk": 1}),
            "config: key 'generate.processes': 'zprime' is not one of ['ttbar', 'wjets', 'qcd']",
        ),
        (lambda c: c.update(sede=3), "config: (top level): Additional properties are not allowed ('sede' was unexpected)"),
        (lambda c: c["detector"].update(track_efficiency=1.5), "config: key 'detector.track_efficiency': 1.5 is greater than the maximum of 1"),
        (lambda c: c.pop("seed"), "config: key '(top level)': 'seed' is a required property"),
    ],
)
def test_bad_config_values_give_one_line_naming_the_key(config, change, message):
    change(config)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert str(error.value) == message
    assert "\n" not in str(error.value)


@pytest.mark.reliability("bad input")
def test_unknown_pythia_setting_is_rejected_before_generation(config):
    config["generate"]["processes"]["qcd"]["pythia"] = ["PhaseSpace:pTHatMinn = 60."]
    with pytest.raises(ConfigError, match=r"generate.processes.qcd.pythia': Pythia does not accept 'PhaseSpace:pTHatMinn = 60.'"):
        check_pythia_settings(config)


@pytest.mark.reliability("bad input")
def test_malformed_yaml_names_the_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("seed: [1\n")
    with pytest.raises(ConfigError, match=r"config.yaml: not valid YAML"):
        load_config(path)


def write_sheet(tmp_path, rows, header="sample\tlabel\tsource\tprocess"):
    path = tmp_path / "samples.tsv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.reliability("bad input")
@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["tt\tttbarr\tgenerate\tttbar"], r"line 2 \(sample 'tt'\): column 'label': 'ttbarr' is not one of"),
        (["tt\tttbar\tgenerate\tzprime"], r"line 2 \(sample 'tt'\): unknown process 'zprime'"),
        (["tt\tttbar\tgenerate\t"], r"line 2 \(sample 'tt'\): column 'process': '' should be non-empty"),
        (["tt\tttbar\t/nowhere/*.root\t"], r"line 2 \(sample 'tt'\): source '/nowhere/\*.root' matches no existing file"),
        (["tt\tttbar\tgenerate\tttbar", "tt\twjets\tgenerate\twjets"], r"sample name 'tt' is listed more than once"),
        (["t t\tttbar\tgenerate\tttbar"], r"column 'sample': 't t' does not match"),
        ([], r"no samples listed"),
    ],
)
def test_bad_sample_sheet_rows_are_named(tmp_path, config, rows, message):
    with pytest.raises(ConfigError, match=message):
        load_samples(write_sheet(tmp_path, rows), config)


@pytest.mark.reliability("bad input")
def test_sample_sheet_missing_column(tmp_path, config):
    with pytest.raises(ConfigError, match=r"missing column\(s\) process"):
        load_samples(write_sheet(tmp_path, ["tt\tttbar\tgenerate"], header="sample\tlabel\tsource"), config)


def test_existing_files_and_remote_urls_are_accepted(tmp_path, config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.root").write_bytes(b"")
    sheet = load_samples(
        write_sheet(tmp_path, ["local\tqcd\tdata/*.root\t", "remote\twjets\troot://eos.example//store/w/*.root\t", "tt\tttbar\tgenerate\tttbar"]),
        config,
    )
    assert list(sheet["sample"]) == ["local", "remote", "tt"]


def test_derived_seeds_are_stable_distinct_and_in_pythia_range():
    seeds = {derive_seed(42, sample, chunk) for sample in ("qcd", "ttbar") for chunk in range(50)}
    assert len(seeds) == 100
    assert all(1 <= seed <= 900_000_000 for seed in seeds)
    assert derive_seed(42, "qcd", 3) == derive_seed(42, "qcd", 3) != derive_seed(43, "qcd", 3)


def test_every_config_key_is_commented():
    """config.yaml documents each key: every key sits in a block of lines that carries a comment."""
    text = (REPO / "config" / "config.yaml").read_text()
    lines = text.splitlines()
    config = yaml.safe_load(text)

    def keys(mapping, depth=0):
        for key, value in mapping.items():
            yield key, depth
            if isinstance(value, dict) and key != "processes":
                yield from keys(value, depth + 1)

    for key, depth in keys(config):
        index = next(i for i, line in enumerate(lines) if line.startswith("  " * depth + f"{key}:"))
        # Blocks are separated by blank lines; each key's block must carry a comment above the key.
        block = []
        for line in reversed(lines[:index]):
            if not line.strip():
                break
            block.append(line.strip())
        assert any(line.startswith("#") for line in block), key


# The model registry and the combinations of settings the training rejects


def schema_properties(*path):
    node = yaml.safe_load((REPO / "src/dltrigger/core/schemas/config.schema.yaml").read_text())["properties"]
    for key in path:
        node = node[key]
    return node


def test_the_schema_and_the_builders_follow_the_model_registry():
    from dltrigger.core.registry import ENGINES, MODELS, REGISTRY
    from dltrigger.models import bigdl_models, keras_models, torch_models

    train = schema_properties("train")["properties"]
    assert train["models"]["items"]["enum"] == list(REGISTRY)
    for key, form in (("epochs", "properties"), ("batch_size", "oneOf"), ("learning_rate", "oneOf")):
        per_model = train[key]["properties"] if form == "properties" else train[key]["oneOf"][1]["properties"]
        assert list(per_model) == list(MODELS), key
    assert list(train["early_stopping"]["properties"]["patience"]["oneOf"][1]["properties"]) == list(MODELS)
    assert list(train["ensemble"]["oneOf"][1]["properties"]) == list(MODELS)
    # The side studies' choices: models that every engine has.
    everywhere = [name for name, model in MODELS.items() if model.engines == ENGINES]
    assert schema_properties("compare_engines")["properties"]["models"]["items"]["enum"] == everywhere
    assert schema_properties("scalability")["properties"]["model"]["enum"] == everywhere
    # Each engine's builder knows the particle branches of exactly the models the registry gives it.
    for engine, builder in (("torch", torch_models), ("keras", keras_models), ("bigdl", bigdl_models)):
        assert set(builder.BRANCHES) == {model.branch for model in MODELS.values() if engine in model.engines}, engine


# Written out by hand: the networks an engine lacks, and the one that needs the rows' global scaling.
NO_VERSION = {("keras", "inclusive_pcloud"), ("keras", "inclusive_part"), ("bigdl", "inclusive_transformer")}
NO_VERSION |= {("bigdl", "inclusive_pcloud"), ("bigdl", "inclusive_part")}
NEEDS_GLOBAL_SCALING = {"inclusive_part"}


def rejection(engine: str, model: str, scaling: str) -> tuple[tuple[str, str], str] | None:
    """The keys and the reason of a combination's rejection, from the hand-written sets above; None: accepted."""
    if (engine, model) in NO_VERSION:
        return ("train.models", "train.engine"), f"{model} has no {engine} version"
    if scaling == "per_event" and model in NEEDS_GLOBAL_SCALING:
        return ("train.models", "features.particle_scaling"), "needs features.particle_scaling: global"
    return None


COMBINATIONS = [(engine, model, scaling) for engine in ENGINES for model in REGISTRY for scaling in ("global", "per_event")]


@pytest.mark.parametrize(
    ("engine", "model", "scaling"),
    [pytest.param(*case, marks=[pytest.mark.reliability("rejected combination")] if rejection(*case) else []) for case in COMBINATIONS],
)
def test_every_engine_model_and_scaling_is_accepted_or_rejected_in_one_line(config, engine, model, scaling):
    """The walk over (engine x model x particle scaling): the combinations the training cannot run stop
    in validation with one line naming the keys; the others pass (and dry-run: test_workflow.py)."""
    config["train"].update(engine=engine, models=[model], ensemble=1)  # (ensembles: torch only, their own test)
    config["features"]["particle_scaling"] = scaling
    config["trigger"]["model"] = "hlf" if REGISTRY[model].tree else model
    expected = rejection(engine, model, scaling)
    if expected is None:
        validate_config(config)
        return
    keys, reason = expected
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    line = str(error.value)
    assert "\n" not in line and reason in line and all(f"'{key}'" in line for key in keys), line


def test_the_walk_rejects_every_combination_the_training_cannot_run():
    # Each engine lacks 2 x its missing models; the particle transformer, torch only, also per event.
    assert sum(rejection(*case) is not None for case in COMBINATIONS) == 2 * len(NO_VERSION) + 1 == 11


@pytest.mark.reliability("rejected combination")
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"train": {"engine": "keras"}, "trigger": {"model": "inclusive_pcloud"}},
            "keys 'trigger.model' and 'train.engine': inclusive_pcloud has no keras version (engines: torch)",
        ),
        (
            {"features": {"particle_scaling": "per_event"}, "trigger": {"model": "inclusive_part"}},
            "keys 'trigger.model' and 'features.particle_scaling': inclusive_part computes",
        ),
        (
            {"compare_engines": {"models": ["hlf"], "engines": ["bigdl"]}, "train": {"models": ["inclusive_transformer"], "engine": "bigdl"}},
            "keys 'train.models' and 'train.engine': inclusive_transformer has no bigdl version",
        ),
        (
            {"train": {"engine": "keras", "models": ["hlf", "particle"], "ensemble": {"particle": 2}}, "trigger": {"model": "hlf"}},
            "keys 'train.ensemble' and 'train.engine': ensembles (particle) are trained by the torch engine only, not keras",
        ),
    ],
)
def test_the_trigger_and_the_side_studies_are_checked_with_the_run(config, change, message):
    for section, values in change.items():
        config[section].update(values)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_the_trigger_model_is_not_trained_where_the_trigger_does_not_run(config):
    """With the BigDL engine nothing is exported, so the trigger's default model asks for no training."""
    config["train"].update(engine="bigdl", models=["hlf"], ensemble=1)
    config["trigger"]["model"] = "inclusive_pcloud"
    validate_config(config)
