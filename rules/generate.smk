# Raw samples: Pythia8 events through a fast Delphes-like detector simulation into Delphes ROOT files.


# Min-bias events from which pileup is drawn (built only when pileup.mu > 0).
rule pileup_pool:
    output:
        pool="results/pileup/minbias_pool.parquet",
    log:
        "logs/pileup_pool/pileup_pool.log",
    benchmark:
        benchmarks("pileup_pool")
    conda:
        "../envs/generate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        seed=config["seed"],
        events=config["pileup"]["pool_events"],
        sqrt_s_gev=config["generate"]["sqrt_s_gev"],
    script:
        "../scripts/pileup_pool.py"


# One chunk of one generated sample: events, generator-level lepton filter, detector, ROOT + JSON sidecar.
rule generate_chunk:
    input:
        unpack(get_generate_chunk_input),
    output:
        root="results/raw/{sample}/chunk_{chunk}.root",
        meta="results/raw/{sample}/chunk_{chunk}.json",
    log:
        "logs/generate_chunk/{sample}/chunk_{chunk}.log",
    benchmark:
        benchmarks("generate_chunk", "{sample}/chunk_{chunk}")
    conda:
        "../envs/generate.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=get_generate_chunk_runtime,
    params:
        config=get_generate_chunk_params,
        label=lambda wildcards: SAMPLES.loc[wildcards.sample, "label"],
        process=lambda wildcards: SAMPLES.loc[wildcards.sample, "process"],
    script:
        "../scripts/generate_chunk.py"


# Per-sample manifest: its ROOT files plus summed cross-section and filter-efficiency bookkeeping.
rule sample_manifest:
    input:
        unpack(get_sample_manifest_input),
    output:
        manifest="results/raw/{sample}/manifest.json",
    log:
        "logs/sample_manifest/{sample}.log",
    conda:
        "../envs/generate.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        label=lambda wildcards: SAMPLES.loc[wildcards.sample, "label"],
        source=lambda wildcards: SAMPLES.loc[wildcards.sample, "source"],
        remote=get_sample_manifest_remote,
    script:
        "../scripts/sample_manifest.py"


# Partial target: the raw samples of every row of the sample sheet.
rule raw_samples:
    input:
        expand("results/raw/{sample}/manifest.json", sample=SAMPLES["sample"]),
