# Training of the classifiers, distributed on Spark, one job per model (engine from config).


# The BigDL engine's own environment (Python 3.10, pyspark 3.1.3, Java 11) from its lock. Both files are
# local(): an environment is not data for a storage provider (profiles/kubernetes: the image carries it).
rule bigdl_env:
    input:
        lock=local("envs/bigdl.lock"),
    output:
        marker=local(BIGDL_ENVIRONMENT_MARKER),
    log:
        "logs/bigdl_env/bigdl_env.log",
    benchmark:
        benchmarks("bigdl_env")
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        python=config["train"]["bigdl"]["python"],
    script:
        "../scripts/bigdl_env.py"


# The keras engine's TensorFlow, as a package layer beside the workflow's environment, from its lock; only
# when a run asks for that engine. local(): an environment, not data for a storage provider.
rule keras_env:
    input:
        lock=local("envs/keras.lock"),
    output:
        marker=local(KERAS_ENVIRONMENT_MARKER),
    log:
        "logs/keras_env/keras_env.log",
    benchmark:
        benchmarks("keras_env")
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/keras_env.py"


rule train:
    input:
        unpack(lambda wildcards: engine_environment(TRAIN_ENGINE)),
        unpack(get_features),
    output:
        model=f"{TRAIN_DIR}/{MODEL_FILES[TRAIN_ENGINE]}",
        predictions=directory(f"{TRAIN_DIR}/predictions.parquet"),
        history=f"{TRAIN_DIR}/history.csv",
        history_json=f"{TRAIN_DIR}/history.json",
        config=f"{TRAIN_DIR}/training_config.json",
    log:
        f"logs/train/{TRAIN_ENGINE}/{{model}}.log",
    benchmark:
        benchmarks("train", f"{TRAIN_ENGINE}/{{model}}")
    wildcard_constraints:
        model="|".join(MODELS),
    conda:
        "../envs/train.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=config["train"]["timeout_minutes"] + 10,
        gpu=get_training_gpus(),
    params:
        train=lambda wildcards: get_train_settings(TRAIN_ENGINE, wildcards.model),
        spark=config["spark"],
        seed=config["seed"],
    script:
        "../scripts/train.py"


# The tree baselines on the 14 HLF (Spark ML random forest, XGBoost on Spark), whatever the engine: the
# same outputs as the networks' training, so evaluation takes them unchanged.
rule train_trees:
    input:
        unpack(get_features),
    output:
        model=directory(f"{TRAIN_DIR}/model.spark"),
        predictions=directory(f"{TRAIN_DIR}/predictions.parquet"),
        history=f"{TRAIN_DIR}/history.csv",
        history_json=f"{TRAIN_DIR}/history.json",
        config=f"{TRAIN_DIR}/training_config.json",
    log:
        f"logs/train/{TRAIN_ENGINE}/{{model}}.log",
    benchmark:
        benchmarks("train", f"{TRAIN_ENGINE}/{{model}}")
    wildcard_constraints:
        model="|".join(TREE_MODELS),
    conda:
        "../envs/train.yaml"
    threads: workflow.cores
    resources:
        mem_mb=4000,
        runtime=config["train"]["timeout_minutes"] + 10,
    params:
        train=lambda wildcards: get_tree_settings(wildcards.model),
        spark=config["spark"],
        seed=config["seed"],
    script:
        "../scripts/train.py"
