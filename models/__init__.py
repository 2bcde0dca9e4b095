"""Model code: features, tf.Transform preprocessing, the Keras model, signatures and run_fn.

TFX 1.16's Keras code needs Keras 2 (tf-keras); TensorFlow 2.16 picks it only when
TF_USE_LEGACY_KERAS is set before TensorFlow is imported. Every process that runs this code
(the CLI, Beam workers, notebooks, containers) imports this package first, so it is set here.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
