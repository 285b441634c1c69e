"""Snakemake adapter of the plotting rules plot_* (logic: dltrigger.evaluate.plots): one job per kind of figure."""

from dltrigger.evaluate import plots

from _helpers import job

with job(globals()) as snakemake:
    inputs, outputs, settings = snakemake.input, dict(snakemake.output.items()), snakemake.params.plots
    models = list(getattr(snakemake.params, "models", []))
    per_model = lambda files: dict(zip(models, files))  # per-model inputs come in the order of `models`
    figures = {
        "plot_roc": lambda: plots.draw_roc(per_model(inputs.curves), per_model(inputs.metrics), inputs.uncertainties, outputs, settings),
        "plot_trigger": lambda: plots.draw_trigger(per_model(inputs.curves), per_model(inputs.metrics), inputs.rates, outputs, settings),
        "plot_model": lambda: plots.draw_models(per_model(inputs.histories), per_model(inputs.metrics), outputs, settings),
        "plot_cutflow": lambda: plots.draw_cutflow(inputs.cutflow, inputs.counts, inputs.rates, outputs, settings),
        "plot_features": lambda: plots.draw_features(inputs.events, outputs, settings),
        "plot_scalability": lambda: plots.draw_scalability(inputs.table, models[0], outputs, settings),
        "plot_engine_comparison": lambda: plots.draw_engine_comparison(inputs.table, models, outputs, settings),
        "plot_stream": lambda: plots.draw_stream(inputs.metrics, inputs.latency, inputs.summary, outputs, settings),
        "plot_stream_load": lambda: plots.draw_stream_load(inputs.table, outputs, settings),
    }
    figures[snakemake.rule]()
