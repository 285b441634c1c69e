# Evaluation on the test set: metrics and ROC points per model, trigger rates per class, the AUC and
# trigger tables, and results/summary.md.


rule evaluate:
    input:
        predictions=rules.train.output.predictions,
    output:
        metrics=f"{EVALUATE_DIR}/metrics.json",
        roc=f"{EVALUATE_DIR}/roc.tsv",
    log:
        f"logs/evaluate/{TRAIN_ENGINE}/{{model}}.log",
    benchmark:
        benchmarks("evaluate", f"{TRAIN_ENGINE}/{{model}}")
    conda:
        "../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        engine=TRAIN_ENGINE,
    script:
        "../scripts/evaluate.py"


rule trigger_rates:
    input:
        unpack(get_trigger_rates_input),
    output:
        rates="results/evaluate/rates.json",
    log:
        "logs/trigger_rates/trigger_rates.log",
    benchmark:
        benchmarks("trigger_rates")
    conda:
        "../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        luminosity=config["evaluate"]["luminosity_cm2s"],
    script:
        "../scripts/trigger_rates.py"


# Paired bootstrap over the test events: every compared number with its 68 % interval, and which models
# are ordered beyond 1 and 2 sigma.
rule uncertainties:
    input:
        predictions=per_model(f"{TRAIN_DIR}/predictions.parquet"),
        rates=rules.trigger_rates.output.rates,
    output:
        uncertainties=f"results/evaluate/{TRAIN_ENGINE}/uncertainties.json",
    log:
        f"logs/uncertainties/{TRAIN_ENGINE}.log",
    benchmark:
        benchmarks("uncertainties", TRAIN_ENGINE)
    conda:
        "../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        models=trained_models(),
        resamples=config["evaluate"]["bootstrap_resamples"],
        seed=get_bootstrap_seed(),
    script:
        "../scripts/uncertainties.py"


rule evaluation_tables:
    input:
        metrics=per_model(f"{EVALUATE_DIR}/metrics.json"),
        rates=rules.trigger_rates.output.rates,
        uncertainties=rules.uncertainties.output.uncertainties,
    output:
        auc_tsv=report(
            f"results/evaluate/{TRAIN_ENGINE}/auc.tsv",
            caption="../report/auc_table.rst",
            category="3. Classifier performance",
            labels={"table": "AUC per model and selector"},
        ),
        auc_md=f"results/evaluate/{TRAIN_ENGINE}/auc.md",
        trigger_tsv=report(
            f"results/evaluate/{TRAIN_ENGINE}/trigger.tsv",
            caption="../report/trigger_table.rst",
            category="4. Operating points",
            labels={"table": "operating points and rates"},
        ),
        trigger_md=f"results/evaluate/{TRAIN_ENGINE}/trigger.md",
        ordering_tsv=report(
            f"results/evaluate/{TRAIN_ENGINE}/ordering.tsv",
            caption="../report/ordering_table.rst",
            category="3. Classifier performance",
            labels={"table": "which classifier is better, beyond 1 and 2 sigma"},
        ),
        ordering_md=f"results/evaluate/{TRAIN_ENGINE}/ordering.md",
    log:
        f"logs/evaluation_tables/{TRAIN_ENGINE}.log",
    benchmark:
        benchmarks("evaluation_tables", TRAIN_ENGINE)
    conda:
        "../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/evaluation_tables.py"


rule summary:
    input:
        unpack(get_summary_benchmarks),
        auc_md=rules.evaluation_tables.output.auc_md,
        trigger_md=rules.evaluation_tables.output.trigger_md,
        ordering_md=rules.evaluation_tables.output.ordering_md,
        uncertainties=rules.uncertainties.output.uncertainties,
        rates=rules.trigger_rates.output.rates,
    output:
        summary=report("results/summary.md", caption="../report/summary.rst", category="0. Summary"),
    log:
        "logs/summary/summary.log",
    benchmark:
        benchmarks("summary")
    conda:
        "../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        run=get_summary_params(),
    script:
        "../scripts/summary.py"
