# Every trained network (torch or keras engine) exported to ONNX, checked with onnxruntime against the
# trained model on every test event, with its trigger menu (what a trigger is loaded from, with the .onnx
# file alone).


rule export_onnx:
    wildcard_constraints:
        model="|".join(MODELS),
    input:
        unpack(lambda wildcards: engine_environment(TRAIN_ENGINE)),
        model=f"{TRAIN_DIR}/{MODEL_FILES[TRAIN_ENGINE]}",
        test=rules.features.output.test,
        counts=rules.features.output.counts,
        rates=rules.trigger_rates.output.rates,
    output:
        onnx="results/export/{model}/model.onnx",
        menu="results/export/{model}/menu.json",
    log:
        "logs/export_onnx/{model}.log",
    benchmark:
        benchmarks("export_onnx", "{model}")
    params:
        paths=config["trigger"]["paths"],
        keras_environment=config["train"]["keras"]["environment"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/export_onnx.py"
