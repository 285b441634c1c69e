# Throughput vs Spark workers: ingestion and training on fresh standalone clusters of 1, 2, ... workers.


rule scalability:
    input:
        unpack(lambda wildcards: engine_environment(TRAIN_ENGINE)),
        manifests=expand("results/raw/{sample}/manifest.json", sample=SAMPLES["sample"]),
        raw=get_generated_root_files,
        train=rules.features.output.train,
        validation=rules.features.output.validation,
        test=rules.features.output.test,
    output:
        table="results/scalability/scalability.tsv",
    log:
        "logs/scalability/scalability.log",
    benchmark:
        benchmarks("scalability")
    conda:
        "../envs/train.yaml"
    # The clusters use max(scalability.workers) cores; the job takes the machine so nothing else distorts the timing.
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        scalability=config["scalability"],
        spark=config["spark"],
        train=config["train"],
        quirks=config["features"]["original_quirks"],
        seed=config["seed"],
    script:
        "../scripts/scalability.py"
