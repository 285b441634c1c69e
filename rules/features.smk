# Feature preparation on Spark: class balancing, train/test split, scaling, particle ordering.


rule features:
    input:
        events=rules.ingest.output.events,
    output:
        train=directory("results/features/train.parquet"),
        test=directory("results/features/test.parquet"),
        counts="results/features/counts.json",
    log:
        "logs/features/features.log",
    benchmark:
        "benchmarks/features/features.tsv"
    params:
        spark=config["spark"],
        seed=config["seed"],
        features=config["features"],
    threads: workflow.cores
    resources:
        mem_mb=6000,
        runtime=120,
    conda:
        "../envs/spark.yaml"
    script:
        "../scripts/features.py"
