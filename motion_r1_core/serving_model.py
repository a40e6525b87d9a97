"""The file MLflow runs to build the registered pyfunc when it loads it ("models from code").

`log_champion` logs this file as the model's code instead of a pickled object; the class lives in
`motion_r1_core.pyfunc_model`, which the model carries in its `code_paths`. Nothing else imports it.
"""

import mlflow.models

from motion_r1_core.pyfunc_model import MotionPolicyModel

mlflow.models.set_model(MotionPolicyModel())
