"""The `report` group: the evaluation report of every policy beside the Real and VQ-VAE rows."""
