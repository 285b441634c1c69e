# Training of the classifiers, distributed on Spark, one job per model (engine from config).


rule train:
    input:
        train=rules.features.output.train,
        test=rules.features.output.test,
    output:
        model=f"{TRAIN_DIR}/{model_file(TRAIN_ENGINE)}",
        predictions=directory(f"{TRAIN_DIR}/predictions.parquet"),
        history=f"{TRAIN_DIR}/history.csv",
        history_json=f"{TRAIN_DIR}/history.json",
        config=f"{TRAIN_DIR}/training_config.json",
    log:
        f"logs/train/{TRAIN_ENGINE}/{{model}}.log",
    benchmark:
        f"benchmarks/train/{TRAIN_ENGINE}/{{model}}.tsv"
    params:
        train=config["train"],
        spark=config["spark"],
        seed=config["seed"],
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=config["train"]["timeout_minutes"] + 10,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train.py"
