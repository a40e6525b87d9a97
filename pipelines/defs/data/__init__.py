"""The `data` group: the raw motion folder of each dataset and its Great Expectations checks."""
