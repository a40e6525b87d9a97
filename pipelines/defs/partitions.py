"""The dataset is a static partition shared by every dataset-dependent asset and check."""

import dagster as dg

from motion_r1_core.config import DATASETS

# procedural (built in), humanml3d and kit (folders the user provides)
dataset_partitions = dg.StaticPartitionsDefinition(list(DATASETS))
