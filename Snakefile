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
include: "rules/scaling.smk"
include: "rules/compare.smk"
include: "rules/plots.smk"


# ----------------------------------------------------------------------------------------------
# targets
# ----------------------------------------------------------------------------------------------
# The figures and tables of the study (the scaling and engine-comparison figures unless disabled in the config), and results/summary.md. The HTML report of them all:
# snakemake --report results/report.html (make run does both).
rule all:
    default_target: True
    input:
        rules.summary.output,
        rules.evaluation_tables.output,
        rules.plot_roc.output,
        rules.plot_trigger.output,
        rules.plot_model.output,
        rules.plot_cutflow.output,
        rules.plot_features.output,
        rules.plot_scaling.output if config["scaling"]["enabled"] else [],
        rules.plot_engine_comparison.output if config["compare_engines"]["enabled"] else [],
