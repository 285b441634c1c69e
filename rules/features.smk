# Feature preparation on Spark: class balancing, train/validation/test split, scaling, particle ordering.


rule features:
    input:
        events=rules.ingest.output.events,
    output:
        train=directory("results/features/train.parquet"),
        validation=directory("results/features/validation.parquet"),
        test=directory("results/features/test.parquet"),
        counts="results/features/counts.json",
        preprocessing="results/features/preprocessing.json",
    log:
        "logs/features/features.log",
    benchmark:
        benchmarks("features")
    conda:
        "../envs/spark.yaml"
    threads: workflow.cores
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        spark=config["spark"],
        seed=config["seed"],
        features=config["features"],
    script:
        "../scripts/features.py"


# The train and test features written in the original study's published schema.
rule export_original_schema:
    input:
        train=rules.features.output.train,
        test=rules.features.output.test,
    output:
        train=directory("results/features/original/trainUndersampled_InclusiveClassifier.parquet"),
        test=directory("results/features/original/testUndersampled_InclusiveClassifier.parquet"),
    log:
        "logs/export_original_schema/export_original_schema.log",
    benchmark:
        benchmarks("export_original_schema")
    conda:
        "../envs/spark.yaml"
    threads: workflow.cores
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        spark=config["spark"],
    script:
        "../scripts/export_original_schema.py"
