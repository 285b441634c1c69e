# Config and sample-sheet validation, and the input/param functions of all rules.
import os
import sys

from dltrigger.core.config import config_hash, derive_seed, load_samples, validate_config
from dltrigger.tools.environments import MARKER as ENVIRONMENT_MARKER
from dltrigger.core.errors import ConfigError
from dltrigger.core.files import unwritable
from dltrigger.core.registry import ENGINES, MODEL_FILES, MODELS, REGISTRY, TREE_MODELS, model_setting
from dltrigger.core.schema import CLASSES
from dltrigger.core.sources import is_remote

# A bad config or sample sheet stops here, before any job, with one line naming the key or row
# (Pythia's own settings are checked by each generation job, before its first event).
try:
    validate_config(config, where="config")
    SAMPLES = load_samples(config["samples"], config)
except ConfigError as error:
    print(f"dltrigger: invalid configuration: {error}", file=sys.stderr)
    sys.exit(1)

GENERATED = SAMPLES[SAMPLES["source"] == "generate"]


# Before the first job (not in dry runs): a read-only or full output directory stops the run in one line.
onstart:
    problem = unwritable(["results", "logs", "benchmarks"])
    if problem:
        print(f"dltrigger: {problem}", file=sys.stderr)
        sys.exit(1)


wildcard_constraints:
    sample="|".join(SAMPLES["sample"]),
    engine="|".join(ENGINES),
    chunk=r"\d+",
    model="|".join([*MODELS, *TREE_MODELS]),


def chunks_of(sample):
    """Chunk labels of a generated sample (000, 001, ...), their number set per process in the config."""
    process = SAMPLES.loc[sample, "process"]
    return [f"{i:03d}" for i in range(config["generate"]["processes"][process]["chunks"])]


def get_generate_chunk_input(wildcards):
    return {"pool": rules.pileup_pool.output.pool} if config["pileup"]["mu"] > 0 else {}


def get_generate_chunk_params(wildcards):
    """Only the config parts a chunk depends on, so unrelated config changes do not regenerate events."""
    generate = config["generate"]
    process = SAMPLES.loc[wildcards.sample, "process"]
    return {
        "seed": config["seed"],
        "generate": {
            "sqrt_s_gev": generate["sqrt_s_gev"],
            "lepton_filter": generate["lepton_filter"],
            "processes": {process: generate["processes"][process]},
        },
        "pileup": config["pileup"],
        "detector": config["detector"],
    }


def get_generate_chunk_runtime(wildcards):
    """Minutes requested per generation job: ~10 ms per Pythia event plus redecay, with a safety factor."""
    settings = config["generate"]["processes"][SAMPLES.loc[wildcards.sample, "process"]]
    return max(10, int(settings["events_per_chunk"] * (0.03 + 0.0002 * settings["redecay"]) / 60 * 3))


def raw_chunk_files(sample, extension):
    return expand("results/raw/{sample}/chunk_{chunk}.{extension}", sample=sample, chunk=chunks_of(sample), extension=extension)


def get_sample_manifest_input(wildcards):
    if SAMPLES.loc[wildcards.sample, "source"] != "generate":
        return {}
    return {"root": raw_chunk_files(wildcards.sample, "root"), "meta": raw_chunk_files(wildcards.sample, "json")}


EXTERNAL_FEATURES = config["features"]["external"]


def get_features(wildcards):
    """The train, validation and test feature tables, with their preprocessing: the workflow's own, or
    the external tables of features.external (no preprocessing file). The test set validates where there
    is no validation set: with the original's quirks, or external tables without one (as the original)."""
    if EXTERNAL_FEATURES:
        tables = {split: EXTERNAL_FEATURES[split] for split in ("train", "test")}
        return dict(tables, validation=EXTERNAL_FEATURES.get("validation") or tables["test"])
    validation = rules.features.output.test if config["features"]["original_quirks"] else rules.features.output.validation
    return {
        "train": rules.features.output.train,
        "validation": validation,
        "test": rules.features.output.test,
        "preprocessing": rules.features.output.preprocessing,
    }


def get_trigger_rates_input(wildcards):
    """Manifests (cross-sections) and ingested events (selected fractions); none for external features."""
    if EXTERNAL_FEATURES:
        return {}
    return {"manifests": expand("results/raw/{sample}/manifest.json", sample=SAMPLES["sample"]), "events": rules.ingest.output.events}


def get_data_figures():
    """The cutflow and input-feature figures: they need the workflow's own events."""
    return [] if EXTERNAL_FEATURES else [rules.plot_cutflow.output, rules.plot_features.output]


def built_studies():
    """The side studies' figures that `snakemake studies` has built: kept in the default target, and so in
    its report (an existence check: nothing is run to decide)."""
    figures = [rules.plot_scalability.output, rules.plot_engine_comparison.output, rules.plot_stream_load.output]
    return [figure for figure in figures if os.path.exists(figure.png)]


def get_generated_root_files(wildcards):
    """The generated ROOT files the manifests name, declared to the Spark rules that read them: without a
    shared filesystem (profiles/kubernetes) a job's pod receives only its declared inputs."""
    return [path for sample in GENERATED["sample"] for path in raw_chunk_files(sample, "root")]


def get_sample_manifest_remote(wildcards):
    """Retry settings for listing a remote source's files; none for other rows, so they do not rerun."""
    return config["ingest"]["remote"] if is_remote(SAMPLES.loc[wildcards.sample, "source"]) else {}


TRAIN_ENGINE = config["train"]["engine"]
# Per-model output folders. Rules expand these plain patterns, not rules.<rule>.output: under a default
# storage provider (profiles/kubernetes) those carry storage flags that expand() rejects.
TRAIN_DIR = f"results/train/{TRAIN_ENGINE}/{{model}}"
EVALUATE_DIR = f"results/evaluate/{TRAIN_ENGINE}/{{model}}"


def trained_models():
    """The models of train.models, networks and trees, in their configured order."""
    return config["train"]["models"]


def per_model(pattern):
    """`pattern` expanded for every trained model."""
    return expand(pattern, model=trained_models())


BIGDL_ENVIRONMENT_MARKER = f"{config['train']['bigdl']['environment']}/{ENVIRONMENT_MARKER}"
KERAS_ENVIRONMENT_MARKER = f"{config['train']['keras']['environment']}/{ENVIRONMENT_MARKER}"
ENGINE_ENVIRONMENT_MARKERS = {"bigdl": BIGDL_ENVIRONMENT_MARKER, "keras": KERAS_ENVIRONMENT_MARKER}


def engine_environment(engine):
    """The marker of an engine's own environment (BigDL's, the keras engine's package layer) for a job of
    that engine: built before it the first time, rebuilt (and the job rerun) when its lock changes;
    nothing for the torch engine, which the workflow's environment has."""
    marker = ENGINE_ENVIRONMENT_MARKERS.get(engine)
    return {"engine_environment": local(marker)} if marker else {}


def get_train_settings(engine, model, epochs=None):
    """The train config of a network for one engine (and, for the engine comparison, a fixed number of
    epochs, all of which run, of one training, whatever train.ensemble): its own epochs, batch size,
    learning rate, early stopping and ensemble, without the model list and the trees' settings, so that
    changing those retrains no other network (nor the particle cloud's shape, except the particle cloud)."""
    epochs_of = {model: epochs or config["train"]["epochs"][model]}  # its own only: another model's retrains nothing
    unused = ("models", "trees") if REGISTRY[model].reads_particle_cloud else ("models", "trees", "particle_cloud")
    network = {key: value for key, value in config["train"].items() if key not in unused}
    stopping = {"patience": 0 if epochs else model_setting(config["train"]["early_stopping"]["patience"], model)}
    own = {key: model_setting(config["train"][key], model) for key in ("batch_size", "learning_rate")}
    ensemble = 1 if epochs else model_setting(config["train"]["ensemble"], model)
    return dict(network, **own, engine=engine, epochs=epochs_of, early_stopping=stopping, ensemble=ensemble)


def get_training_gpus():
    """GPUs a network's training job asks its scheduler for: one per training process with
    train.device: cuda (SLURM: --gpus), none on CPUs."""
    return config["train"]["workers"] if config["train"]["device"] == "cuda" else 0


def get_tree_settings(model):
    """What a tree baseline's fit depends on: its own settings and the number of workers."""
    return {"workers": config["train"]["workers"], "trees": {model: config["train"]["trees"][model]}}


COMPARED_ENGINES = config["compare_engines"]["engines"]
COMPARED = expand("results/compare/{engine}/{model}", engine=COMPARED_ENGINES, model=config["compare_engines"]["models"])


def get_plot_settings():
    """What the figures depend on besides their inputs: changing these reruns only the plotting rules."""
    return dict(config["plots"], sqrt_s_tev=config["generate"]["sqrt_s_gev"] / 1000)


def get_bootstrap_seed():
    return derive_seed(config["seed"], "bootstrap")


def get_replay_seed():
    return derive_seed(config["seed"], "replay")


def get_trigger_targets():
    """The exported networks and the streaming trigger's figure: with the torch or keras engine on the
    workflow's own events (the replay needs raw events; BigDL's models are not exported)."""
    if TRAIN_ENGINE == "bigdl" or EXTERNAL_FEATURES:
        return []
    networks = [model for model in trained_models() if model in MODELS]
    return [*expand("results/export/{model}/menu.json", model=networks), f"results/plots/trigger_stream_{config['trigger']['model']}.png"]


def get_summary_params():
    train = config["train"]
    # The plot settings are left out of the hash so that restyling figures does not rerun the summary.
    run_config = {key: value for key, value in config.items() if key != "plots"}
    return {"engine": TRAIN_ENGINE, "workers": train["workers"], "models": train["models"], "config_hash": config_hash(run_config)}


def benchmarks(rule, name=None):
    """The benchmark file of a job of ``rule``: benchmarks/<rule>/<name>.tsv (the summary reads them by rule)."""
    return f"benchmarks/{rule}/{name or rule}.tsv"


def get_summary_benchmarks(wildcards):
    """The benchmark files of every job before the summary, by rule, for its stage-timing table."""
    models = trained_models()
    files = {
        "train": [benchmarks("train", f"{TRAIN_ENGINE}/{model}") for model in models],
        "evaluate": [benchmarks("evaluate", f"{TRAIN_ENGINE}/{model}") for model in models],
        "trigger_rates": [benchmarks("trigger_rates")],
        "uncertainties": [benchmarks("uncertainties", TRAIN_ENGINE)],
        "evaluation_tables": [benchmarks("evaluation_tables", TRAIN_ENGINE)],
    }
    if not EXTERNAL_FEATURES:
        generated = [benchmarks("generate_chunk", f"{sample}/chunk_{chunk}") for sample in GENERATED["sample"] for chunk in chunks_of(sample)]
        files = {"generate_chunk": generated, "ingest": [benchmarks("ingest")], "features": [benchmarks("features")], **files}
        if config["pileup"]["mu"] > 0:
            files = {"pileup_pool": [benchmarks("pileup_pool")], **files}
    return {f"benchmarks_{rule}": paths for rule, paths in files.items()}


def get_plot_roc_output():
    """ROC figures of every selector, linear and log FPR: PNG (in the report) and PDF."""
    outputs = {}
    for selector in CLASSES:
        for axis, suffix in (("linear", ""), ("log", "_logfpr")):
            stem = f"results/plots/{TRAIN_ENGINE}/roc_{selector}{suffix}"
            outputs[f"{selector}_{axis}_png"] = report(
                f"{stem}.png",
                caption="../report/roc.rst",
                category="3. Classifier performance",
                subcategory="ROC curves",
                labels={"selector": selector, "FPR axis": axis},
            )
            outputs[f"{selector}_{axis}_pdf"] = f"{stem}.pdf"
    return outputs


def get_plot_model_output():
    """Per trained model: training curves and confusion matrix, PNG (in the report) and PDF."""
    outputs = {}
    for model in trained_models():
        for figure, caption, category in (
            ("training", "training", "2. Training"),
            ("confusion", "confusion", "3. Classifier performance"),
        ):
            stem = f"results/plots/{TRAIN_ENGINE}/{figure}_{model}"
            outputs[f"{model}_{figure}_png"] = report(
                f"{stem}.png", caption=f"../report/{caption}.rst", category=category, labels={"model": model, "figure": figure}
            )
            outputs[f"{model}_{figure}_pdf"] = f"{stem}.pdf"
    return outputs
