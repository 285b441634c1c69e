# Training of the classifiers, distributed on Spark, one job per model (engine from config).


rule train:
    input:
        train=rules.features.output.train,
        test=rules.features.output.test,
    output:
        model=f"results/train/{TRAIN_ENGINE}/{{model}}/{model_file(TRAIN_ENGINE)}",
        predictions=directory(f"results/train/{TRAIN_ENGINE}/{{model}}/predictions.parquet"),
        history=f"results/train/{TRAIN_ENGINE}/{{model}}/history.csv",
        history_json=f"results/train/{TRAIN_ENGINE}/{{model}}/history.json",
        config=f"results/train/{TRAIN_ENGINE}/{{model}}/training_config.json",
    log:
        f"logs/train/{TRAIN_ENGINE}/{{model}}.log",
    benchmark:
        f"benchmarks/train/{TRAIN_ENGINE}/{{model}}.tsv"
    params:
        output_dir=lambda wildcards: f"results/train/{TRAIN_ENGINE}/{wildcards.model}",
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
