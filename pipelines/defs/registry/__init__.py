"""The `registry` group: the champion of the evaluation report as a registered MLflow model."""
