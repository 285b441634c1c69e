"""dltrigger: CERN's deep-learning trigger study (topology classification of LHC events), end to end.

One module per workflow stage; every function here is importable and unit-tested, while the Snakemake
rules and the scripts in ``scripts/`` only wire inputs and outputs to it.
"""

__version__ = "0.1.0"

# Class labels of the original study (0 = QCD, 1 = tt̄, 2 = W+jets), used by every stage.
LABELS = {"qcd": 0, "ttbar": 1, "wjets": 2}
