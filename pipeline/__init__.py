"""Pipeline definition: typed configuration, the pure pipeline builder and the evaluation config.

Importing models.features first makes sure TF_USE_LEGACY_KERAS is set (see models/__init__.py)
before anything here pulls in TensorFlow.
"""

import models.features  # noqa: F401
