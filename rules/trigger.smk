# The trigger: every trained network (torch or keras engine) exported to ONNX, checked with onnxruntime
# against the trained model on every test event, with its trigger menu (what a trigger is loaded from,
# with the .onnx file alone); the test-set events replayed as raw Delphes-layout chunks into a landing
# directory, and an exported selector run on them by a Spark Structured Streaming query.


rule export_onnx:
    input:
        unpack(lambda wildcards: engine_environment(TRAIN_ENGINE)),
        model=f"{TRAIN_DIR}/{MODEL_FILES[TRAIN_ENGINE]}",
        test=rules.features.output.test,
        preprocessing=rules.features.output.preprocessing,
        rates=rules.trigger_rates.output.rates,
    output:
        onnx="results/export/{model}/model.onnx",
        menu="results/export/{model}/menu.json",
    log:
        "logs/export_onnx/{model}.log",
    benchmark:
        benchmarks("export_onnx", "{model}")
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        paths=config["trigger"]["paths"],
        keras_environment=config["train"]["keras"]["environment"],
    script:
        "../scripts/export_onnx.py"


rule replay_chunks:
    input:
        test=rules.features.output.test,
        raw=get_generated_root_files,
    output:
        replay=directory("results/trigger/replay"),
    log:
        "logs/replay_chunks/replay_chunks.log",
    benchmark:
        benchmarks("replay_chunks")
    conda:
        "../envs/spark.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        events_per_chunk=config["trigger"]["events_per_chunk"],
        seed=get_replay_seed(),
    script:
        "../scripts/replay_chunks.py"


rule stream_trigger:
    input:
        onnx=rules.export_onnx.output.onnx,
        menu=rules.export_onnx.output.menu,
        replay=rules.replay_chunks.output.replay,
    output:
        metrics="results/trigger/{model}/stream_metrics.tsv",
        latency="results/trigger/{model}/latency.tsv",
        accepted="results/trigger/{model}/accepted.parquet",
        summary="results/trigger/{model}/stream.json",
    log:
        "logs/stream_trigger/{model}.log",
    benchmark:
        benchmarks("stream_trigger", "{model}")
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        "../envs/spark.yaml"
    # The stream's throughput and latency are measured: the job takes the machine.
    threads: workflow.cores
    resources:
        mem_mb=6000,
        runtime=config["trigger"]["timeout_minutes"] + 10,
    params:
        trigger=config["trigger"],
        spark=config["spark"],
    script:
        "../scripts/stream_trigger.py"


rule plot_stream:
    input:
        metrics="results/trigger/{model}/stream_metrics.tsv",
        latency="results/trigger/{model}/latency.tsv",
        summary="results/trigger/{model}/stream.json",
    output:
        png=report(
            "results/plots/trigger_stream_{model}.png",
            caption="../report/stream.rst",
            category="5. Trigger",
            labels={"figure": "streaming trigger: rate and latency", "model": "{model}"},
        ),
        pdf="results/plots/trigger_stream_{model}.pdf",
    log:
        "logs/plot_stream/{model}.log",
    benchmark:
        benchmarks("plot_stream", "{model}")
    conda:
        "../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=get_plot_settings(),
    script:
        "../scripts/plot.py"


# Latency against offered load (a side study: `snakemake studies`): the trigger's selector at saturation,
# then at fractions of that rate, each point repeated.
rule stream_load:
    input:
        onnx=f"results/export/{config['trigger']['model']}/model.onnx",
        menu=f"results/export/{config['trigger']['model']}/menu.json",
        replay=rules.replay_chunks.output.replay,
    output:
        table="results/trigger/load/latency_vs_load.tsv",
    log:
        "logs/stream_load/stream_load.log",
    benchmark:
        benchmarks("stream_load")
    conda:
        "../envs/spark.yaml"
    # Latency and throughput are measured: the job takes the machine.
    threads: workflow.cores
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        trigger=config["trigger"],
        spark=config["spark"],
    script:
        "../scripts/stream_load.py"


rule plot_stream_load:
    input:
        table=rules.stream_load.output.table,
    output:
        png=report(
            "results/plots/trigger_latency_vs_load.png",
            caption="../report/stream_load.rst",
            category="5. Trigger",
            labels={"figure": "streaming trigger: latency against offered load"},
        ),
        pdf="results/plots/trigger_latency_vs_load.pdf",
    log:
        "logs/plot_stream_load/plot_stream_load.log",
    benchmark:
        benchmarks("plot_stream_load")
    conda:
        "../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plots=get_plot_settings(),
    script:
        "../scripts/plot.py"
