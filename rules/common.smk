# Config and sample-sheet validation, and the input/param functions of all rules.
import sys

from dltrigger.config import ConfigError, check_pythia_settings, load_samples, validate_config
from dltrigger.models import MODELS
from dltrigger.train import model_file

# A bad config or sample sheet stops here, before any job, with one line naming the key or row.
try:
    validate_config(config, where="config")
    check_pythia_settings(config)
    SAMPLES = load_samples(config["samples"], config)
except ConfigError as error:
    print(f"dltrigger: invalid configuration: {error}", file=sys.stderr)
    sys.exit(1)

GENERATED = SAMPLES[SAMPLES["source"] == "generate"]


wildcard_constraints:
    sample="|".join(SAMPLES["sample"]),
    chunk=r"\d+",
    model="|".join(MODELS),


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


def get_sample_manifest_input(wildcards):
    row = SAMPLES.loc[wildcards.sample]
    if row["source"] != "generate":
        return {}
    chunks = chunks_of(wildcards.sample)
    return {
        "root": expand("results/raw/{sample}/chunk_{chunk}.root", sample=wildcards.sample, chunk=chunks),
        "meta": expand("results/raw/{sample}/chunk_{chunk}.json", sample=wildcards.sample, chunk=chunks),
    }


TRAIN_ENGINE = config["train"]["engine"]


def trained_models():
    """Outputs of every configured classifier's training."""
    return expand(
        "results/train/{engine}/{model}/history.json", engine=TRAIN_ENGINE, model=config["train"]["models"]
    )
