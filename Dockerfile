# The pipeline image. Vertex AI Pipelines steps, Dataflow workers and Vertex Training jobs all run it,
# so Python, TFX, Beam and the model code are the same in every container (see docs/vertex.md).
# Build from the repository root: docker build -t REGION-docker.pkg.dev/PROJECT/REPOSITORY/taxi-pipeline:SHA .
FROM tensorflow/tfx:1.16.0

# Dataflow starts a custom container through Beam's boot program: take the one of the Beam version
# pinned in requirements.lock, whether or not the base image ships one.
COPY --from=apache/beam_python3.10_sdk:2.61.0 /opt/apache/beam /opt/apache/beam

# Keras 2 (tf_keras) in every process, whatever it imports first; models/__init__.py sets it too.
# Beam's boot program would otherwise build a fresh virtualenv on each worker instead of using this one.
ENV TF_USE_LEGACY_KERAS=1 \
    RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /pipeline

# The same path as scripts/bootstrap.sh: uv, pinned with hashes in requirements-uv.lock, installs the
# hash-checked lock without resolution into the interpreter that runs the steps (`--python`). `install`,
# not `sync`: the base image's own packages stay; the lock's versions replace theirs.
# The locked dependencies first, so this layer is rebuilt only when the lock changes.
COPY requirements-uv.lock requirements.lock ./
RUN python -c "import sys; assert sys.version_info[:2] == (3, 10), sys.version" \
 && python -m pip install --quiet --no-cache-dir --no-deps --only-binary :all: --require-hashes --target /opt/uv -r requirements-uv.lock \
 && /opt/uv/bin/uv pip install --quiet --no-cache --python "$(command -v python)" --require-hashes --no-deps -r requirements.lock

# Then the project, installed as the README does, so dotted paths such as models.trainer.run_fn import
# in every container. The copy keeps schema/schema.pbtxt at /pipeline/schema (the vertex profile's schema_path).
COPY . ./
RUN /opt/uv/bin/uv pip install --quiet --no-cache --python "$(command -v python)" --no-deps . \
 && python -c "import models.trainer, pipeline.pipeline, runners.vertex"

# Vertex steps and Vertex Training set their own command; Dataflow runs the entrypoint.
ENTRYPOINT ["/opt/apache/beam/boot"]
