# dltrigger: CERN's deep-learning trigger study, regenerated from raw events.
# Outputs: results/<stage>/..., logs/<rule>/..., benchmarks/<rule>/... (see README.md).
from snakemake.utils import min_version

min_version("9.27")


configfile: "config/config.yaml"


# ----------------------------------------------------------------------------------------------
# load rules
# ----------------------------------------------------------------------------------------------
include: "rules/common.smk"
include: "rules/generate.smk"
include: "rules/ingest.smk"
include: "rules/features.smk"
include: "rules/train.smk"


# ----------------------------------------------------------------------------------------------
# targets
# ----------------------------------------------------------------------------------------------
rule all:
    default_target: True
    input:
        rules.features.output,
        trained_models(),
