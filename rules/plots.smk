# The study's figures, PNG (in the report) and PDF; params are only the plot settings, so restyling
# reruns these rules and nothing upstream.


rule plot_roc:
    input:
        curves=expand(rules.evaluate.output.roc, model=config["train"]["models"]),
        metrics=expand(rules.evaluate.output.metrics, model=config["train"]["models"]),
    output:
        linear_png=report(
            f"results/plots/{TRAIN_ENGINE}/roc_{{selector}}.png",
            caption="../report/roc.rst",
            category="3. Classifier performance",
            subcategory="ROC curves",
            labels={"selector": "{selector}", "FPR axis": "linear"},
        ),
        linear_pdf=f"results/plots/{TRAIN_ENGINE}/roc_{{selector}}.pdf",
        log_png=report(
            f"results/plots/{TRAIN_ENGINE}/roc_{{selector}}_logfpr.png",
            caption="../report/roc.rst",
            category="3. Classifier performance",
            subcategory="ROC curves",
            labels={"selector": "{selector}", "FPR axis": "log"},
        ),
        log_pdf=f"results/plots/{TRAIN_ENGINE}/roc_{{selector}}_logfpr.pdf",
    log:
        f"logs/plot_roc/{TRAIN_ENGINE}/{{selector}}.log",
    params:
        plots=get_plot_settings(),
        models=config["train"]["models"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/dltrigger.yaml"
    script:
        "../scripts/plot.py"


rule plot_trigger:
    input:
        curves=expand(rules.evaluate.output.roc, model=config["train"]["models"]),
        metrics=expand(rules.evaluate.output.metrics, model=config["train"]["models"]),
        rates=rules.trigger_rates.output.rates,
    output:
        png=report(
            f"results/plots/{TRAIN_ENGINE}/trigger_efficiency_vs_rate.png",
            caption="../report/trigger.rst",
            category="4. Trigger",
            labels={"figure": "efficiency vs background rate"},
        ),
        pdf=f"results/plots/{TRAIN_ENGINE}/trigger_efficiency_vs_rate.pdf",
    log:
        f"logs/plot_trigger/{TRAIN_ENGINE}.log",
    params:
        plots=get_plot_settings(),
        models=config["train"]["models"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/dltrigger.yaml"
    script:
        "../scripts/plot.py"


rule plot_model:
    input:
        history=rules.train.output.history_json,
        metrics=rules.evaluate.output.metrics,
    output:
        training_png=report(
            f"results/plots/{TRAIN_ENGINE}/training_{{model}}.png",
            caption="../report/training.rst",
            category="2. Training",
            labels={"model": "{model}", "figure": "loss and accuracy"},
        ),
        training_pdf=f"results/plots/{TRAIN_ENGINE}/training_{{model}}.pdf",
        confusion_png=report(
            f"results/plots/{TRAIN_ENGINE}/confusion_{{model}}.png",
            caption="../report/confusion.rst",
            category="3. Classifier performance",
            subcategory="Confusion matrices",
            labels={"model": "{model}"},
        ),
        confusion_pdf=f"results/plots/{TRAIN_ENGINE}/confusion_{{model}}.pdf",
    log:
        f"logs/plot_model/{TRAIN_ENGINE}/{{model}}.log",
    params:
        plots=get_plot_settings(),
        models=config["train"]["models"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/dltrigger.yaml"
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
    params:
        plots=get_plot_settings(),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/dltrigger.yaml"
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
    params:
        plots=get_plot_settings(),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    conda:
        "../envs/dltrigger.yaml"
    script:
        "../scripts/plot.py"
