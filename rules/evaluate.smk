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
        f"benchmarks/evaluate/{TRAIN_ENGINE}/{{model}}.tsv"
    params:
        engine=TRAIN_ENGINE,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/evaluate.yaml"
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
        "benchmarks/trigger_rates/trigger_rates.tsv"
    params:
        luminosity=config["evaluate"]["luminosity_cm2s"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/trigger_rates.py"


rule evaluation_tables:
    input:
        metrics=per_model(f"{EVALUATE_DIR}/metrics.json"),
        rates=rules.trigger_rates.output.rates,
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
            category="4. Trigger",
            labels={"table": "operating points and rates"},
        ),
        trigger_md=f"results/evaluate/{TRAIN_ENGINE}/trigger.md",
    log:
        f"logs/evaluation_tables/{TRAIN_ENGINE}.log",
    benchmark:
        f"benchmarks/evaluation_tables/{TRAIN_ENGINE}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/evaluation_tables.py"


rule summary:
    input:
        auc_md=rules.evaluation_tables.output.auc_md,
        trigger_md=rules.evaluation_tables.output.trigger_md,
        rates=rules.trigger_rates.output.rates,
        benchmarks=get_summary_benchmarks(),
    output:
        summary=report("results/summary.md", caption="../report/summary.rst", category="0. Summary"),
    log:
        "logs/summary/summary.log",
    benchmark:
        "benchmarks/summary/summary.tsv"
    params:
        run=get_summary_params(),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/summary.py"
