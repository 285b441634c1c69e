# dltrigger: CERN's deep-learning trigger study, regenerated from raw events.
# Outputs: results/<stage>/..., logs/<rule>/..., benchmarks/<rule>/... (see README.md); report captions in report/.
from snakemake.utils import min_version

min_version("9.27")


configfile: "config/config.yaml"


report: "report/workflow.rst"


# ----------------------------------------------------------------------------------------------
# load rules
# ----------------------------------------------------------------------------------------------
include: "rules/common.smk"
include: "rules/generate.smk"
include: "rules/ingest.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/trigger.smk"
include: "rules/scalability.smk"
include: "rules/compare.smk"
include: "rules/plots.smk"


# ----------------------------------------------------------------------------------------------
# targets
# ----------------------------------------------------------------------------------------------
# The study: generation -> ingestion -> features -> the classifiers -> evaluation, every figure and
# table, the exported selectors and the streaming trigger, results/summary.md (and the side studies' figures once `studies` has built them). The HTML
# report of them all: snakemake --report results/report.html (make run does both).
rule all:
    default_target: True
    input:
        rules.summary.output,
        rules.evaluation_tables.output,
        rules.plot_roc.output,
        rules.plot_trigger.output,
        rules.plot_model.output,
        get_data_figures(),
        get_trigger_targets(),
        built_studies(),


# The trigger alone: every trained network exported to ONNX and checked, and the streaming trigger run on
# the replayed test events (part of the default target with the torch or keras engine).
rule trigger:
    input:
        get_trigger_targets(),


# Side studies, not part of the default target: throughput vs Spark workers, the framework comparison
# (with the BigDL engine's environment where configured) and the streaming trigger's latency against
# offered load. make studies.
rule studies:
    input:
        rules.plot_scalability.output,
        rules.plot_engine_comparison.output,
        rules.plot_stream_load.output,


# The features in the original study's published schema (HLF_input, GRU_input 801 x 19 flattened,
# encoded_label, label), for tools written for the original's Parquet files.
rule original_schema:
    input:
        rules.export_original_schema.output,
