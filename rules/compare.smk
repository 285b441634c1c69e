# The framework comparison: the same models, data and epochs trained by each engine of
# compare_engines.engines; throughput and test AUC per engine and model.


rule compare_train:
    input:
        unpack(lambda wildcards: engine_environment(wildcards.engine)),
        unpack(get_features),
    output:
        model="results/compare/{engine}/{model}/model.{engine}",
        predictions=directory("results/compare/{engine}/{model}/predictions.parquet"),
        history="results/compare/{engine}/{model}/history.csv",
        history_json="results/compare/{engine}/{model}/history.json",
        config="results/compare/{engine}/{model}/training_config.json",
    log:
        "logs/compare_train/{engine}/{model}.log",
    benchmark:
        benchmarks("compare_train", "{engine}/{model}")
    conda:
        "../envs/train.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=config["train"]["timeout_minutes"] + 10,
        gpu=get_training_gpus(),
    params:
        train=lambda wildcards: get_train_settings(wildcards.engine, wildcards.model, config["compare_engines"]["epochs"]),
        spark=config["spark"],
        seed=config["seed"],
    script:
        "../scripts/train.py"


rule engine_comparison:
    input:
        histories=[f"{run}/history.json" for run in COMPARED],
        predictions=[f"{run}/predictions.parquet" for run in COMPARED],
    output:
        table="results/compare/engines.tsv",
    log:
        "logs/engine_comparison/engine_comparison.log",
    benchmark:
        benchmarks("engine_comparison")
    conda:
        "../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        engines=COMPARED_ENGINES,
        models=config["compare_engines"]["models"],
    script:
        "../scripts/engine_comparison.py"
