# The study's figures, PNG (in the report) and PDF; params are only the plot settings, so restyling
# reruns these rules and nothing upstream. One job per kind of figure: on a laptop, Python and
# matplotlib start-up costs as much as drawing a figure.


rule plot_roc:
    input:
        curves=per_model(f"{EVALUATE_DIR}/roc.tsv"),
        metrics=per_model(f"{EVALUATE_DIR}/metrics.json"),
        uncertainties=rules.uncertainties.output.uncertainties,
    output:
        **get_plot_roc_output(),
    log:
        f"logs/plot_roc/{TRAIN_ENGINE}.log",
    benchmark:
        benchmarks("plot_roc", TRAIN_ENGINE)
    conda:
        "../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=get_plot_settings(),
        models=trained_models(),
    script:
        "../scripts/plot.py"


rule plot_trigger:
    input:
        curves=per_model(f"{EVALUATE_DIR}/roc.tsv"),
        metrics=per_model(f"{EVALUATE_DIR}/metrics.json"),
        rates=rules.trigger_rates.output.rates,
    output:
        png=report(
            f"results/plots/{TRAIN_ENGINE}/trigger_efficiency_vs_rate.png",
            caption="../report/trigger.rst",
            category="4. Operating points",
            labels={"figure": "efficiency vs background rate"},
        ),
        pdf=f"results/plots/{TRAIN_ENGINE}/trigger_efficiency_vs_rate.pdf",
    log:
        f"logs/plot_trigger/{TRAIN_ENGINE}.log",
    benchmark:
        benchmarks("plot_trigger", TRAIN_ENGINE)
    conda:
        "../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=get_plot_settings(),
        models=trained_models(),
    script:
        "../scripts/plot.py"


rule plot_model:
    input:
        histories=per_model(f"{TRAIN_DIR}/history.json"),
        metrics=per_model(f"{EVALUATE_DIR}/metrics.json"),
    output:
        **get_plot_model_output(),
    log:
        f"logs/plot_model/{TRAIN_ENGINE}.log",
    benchmark:
        benchmarks("plot_model", TRAIN_ENGINE)
    conda:
        "../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=get_plot_settings(),
        models=trained_models(),
    script:
        "../scripts/plot.py"


rule plot_cutflow:
    input:
        cutflow=rules.ingest.output.cutflow,
        counts=rules.features.output.counts,
        rates=rules.trigger_rates.output.rates,
    output:
        png=report(
            "results/plots/cutflow.png",
            caption="../report/cutflow.rst",
            category="1. Data",
            labels={"figure": "cutflow and class composition"},
        ),
        pdf="results/plots/cutflow.pdf",
    log:
        "logs/plot_cutflow/plot_cutflow.log",
    benchmark:
        benchmarks("plot_cutflow")
    conda:
        "../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=get_plot_settings(),
    script:
        "../scripts/plot.py"


rule plot_features:
    input:
        events=rules.ingest.output.events,
    output:
        png=report(
            "results/plots/features.png",
            caption="../report/features.rst",
            category="1. Data",
            labels={"figure": "input features per class"},
        ),
        pdf="results/plots/features.pdf",
    log:
        "logs/plot_features/plot_features.log",
    benchmark:
        benchmarks("plot_features")
    conda:
        "../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        plots=get_plot_settings(),
    script:
        "../scripts/plot.py"


rule plot_scalability:
    input:
        table=rules.scalability.output.table,
    output:
        png=report(
            "results/plots/scalability.png",
            caption="../report/scalability.rst",
            category="6. Scalability",
            labels={"figure": "throughput vs Spark workers"},
        ),
        pdf="results/plots/scalability.pdf",
    log:
        "logs/plot_scalability/plot_scalability.log",
    benchmark:
        benchmarks("plot_scalability")
    conda:
        "../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=get_plot_settings(),
        models=[config["scalability"]["model"]],
    script:
        "../scripts/plot.py"


rule plot_engine_comparison:
    input:
        table=rules.engine_comparison.output.table,
    output:
        png=report(
            "results/plots/engine_comparison.png",
            caption="../report/engine_comparison.rst",
            category="7. Framework comparison",
            labels={"figure": "throughput and AUC per engine"},
        ),
        pdf="results/plots/engine_comparison.pdf",
    log:
        "logs/plot_engine_comparison/plot_engine_comparison.log",
    benchmark:
        benchmarks("plot_engine_comparison")
    conda:
        "../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=get_plot_settings(),
        models=config["compare_engines"]["models"],
    script:
        "../scripts/plot.py"
