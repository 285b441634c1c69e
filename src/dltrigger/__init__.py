"""dltrigger: CERN's deep-learning trigger study (topology classification of LHC events), end to end.

Stage modules (``generate``, ``ingest``, ``features``, ``train``, ``evaluate`` and the figures and
summary beside it) stand side by side on a shared layer (``schema``, ``errors``, I/O, Spark, config,
the study's observables); none imports another stage, and none imports Snakemake: the rules and the
adapters in ``scripts/`` wire files to these functions.
"""

__version__ = "0.1.0"
