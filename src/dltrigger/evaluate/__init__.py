"""Evaluation stage, one module per job: ``metrics`` (a trained classifier on the test set: ROC curves,
AUCs, operating points), ``rates`` (each class's rate into the trigger), ``uncertainty`` (the paired
bootstrap of every model's metrics), ``tables``, ``plots``, ``summary`` (the report's summary) and
``compare`` (the engine comparison)."""
