"""The pipeline configuration: `params.yaml` + a profile in `configs/` + `key=value` overrides.

The pydantic models mirror the sections of params.yaml, one module per section; every field has
a default equal to its value in params.yaml (tests/test_config_defaults.py) and a description,
unknown keys are errors, and validators check rules that span fields. Precedence, lowest first:
params.yaml, configs/<profile>.yaml, explicit overrides.
"""

from motion_r1_core.config.base import DATASETS, Dataset
from motion_r1_core.config.cot import CoTClientConfig, CoTConfig, CoTLimitsConfig, CoTServerConfig
from motion_r1_core.config.data import DataConfig, ExternalDatasetConfig, ProceduralConfig
from motion_r1_core.config.encoders import (
    EncodersConfig,
    EvaluationConfig,
    MotionEncoderConfig,
    PublishedEvaluatorConfig,
)
from motion_r1_core.config.pipeline import Config, TrackingConfig, find_root, load_config
from motion_r1_core.config.policy import (
    BackboneConfig,
    GenerationSection,
    PolicyConfig,
    SFTSection,
)
from motion_r1_core.config.registry import RegistryConfig
from motion_r1_core.config.tokenizer import (
    TokensConfig,
    VQVAEConfig,
    VQVAEModelConfig,
    VQVAETrainConfig,
)

__all__ = [
    "DATASETS",
    "BackboneConfig",
    "CoTClientConfig",
    "CoTConfig",
    "CoTLimitsConfig",
    "CoTServerConfig",
    "Config",
    "DataConfig",
    "Dataset",
    "EncodersConfig",
    "EvaluationConfig",
    "ExternalDatasetConfig",
    "GenerationSection",
    "MotionEncoderConfig",
    "PolicyConfig",
    "ProceduralConfig",
    "PublishedEvaluatorConfig",
    "RegistryConfig",
    "SFTSection",
    "TokensConfig",
    "TrackingConfig",
    "VQVAEConfig",
    "VQVAEModelConfig",
    "VQVAETrainConfig",
    "find_root",
    "load_config",
]
