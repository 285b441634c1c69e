# Ingestion on Spark: every raw ROOT file -> isolated-lepton selection -> HLF + particle features (Parquet).


rule ingest:
    input:
        manifests=expand("results/raw/{sample}/manifest.json", sample=SAMPLES["sample"]),
        raw=get_generated_root_files,
    output:
        events=directory("results/ingest/events.parquet"),
        cutflow="results/ingest/cutflow.tsv",
    log:
        "logs/ingest/ingest.log",
    benchmark:
        benchmarks("ingest")
    conda:
        "../envs/spark.yaml"
    threads: workflow.cores
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        spark=config["spark"],
        quirks=config["features"]["original_quirks"],
        events_per_task=config["ingest"]["events_per_task"],
        remote=config["ingest"]["remote"],
    script:
        "../scripts/ingest.py"
