"""The Model Registry pusher against a stand-in for google-cloud-aiplatform: versions of one model,
deployment with the configured traffic share, unblessed models left alone. No cloud is reached.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from tfx import types
from tfx.types import standard_artifacts

from pipeline.cloud import VertexServing
from pipeline.vertex_pusher import Executor, VertexModelRegistryPusher, push_to_registry

SETTINGS = VertexServing(
    project="test-project",
    region="us-central1",
    model_id="taxi_big_tipper",
    serving_image="us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest",
    endpoint_name="taxi-endpoint",
    traffic_percentage=100,
)
PARENT = "projects/test-project/locations/us-central1/models/taxi_big_tipper"


class FakeAiplatform:
    """Records what the pusher asks of aiplatform and keeps a tiny registry and endpoint."""

    def __init__(self) -> None:
        self.versions: list[dict[str, Any]] = []
        self.deployments: list[dict[str, Any]] = []
        self.undeployed: list[str] = []
        self.traffic: dict[str, int] = {}
        self.endpoint_created = False
        fake = self

        class Version:
            def __init__(self, number: int) -> None:
                self.version_id = str(number)
                self.versioned_resource_name = f"{PARENT}@{number}"

            def deploy(self, **kwargs: Any) -> None:
                fake.deployments.append(kwargs)
                share = kwargs["traffic_percentage"]
                rest = sum(fake.traffic.values()) or 1
                fake.traffic = {k: round(v * (100 - share) / rest) for k, v in fake.traffic.items()}
                fake.traffic[f"deployed-{self.version_id}"] = share

        class Model:
            def __init__(self, model_name: str) -> None:
                if not fake.versions:
                    raise exceptions.NotFound(f"model {model_name}")
                self.resource_name = PARENT

            @staticmethod
            def upload(**kwargs: Any) -> Version:
                fake.versions.append(kwargs)
                return Version(len(fake.versions))

        class Endpoint:
            resource_name = "projects/test-project/locations/us-central1/endpoints/1"

            def __init__(self, name: str = "") -> None:
                self.traffic_split = dict(fake.traffic)

            @staticmethod
            def list(**kwargs: Any) -> list[Endpoint]:
                return [Endpoint()] if fake.endpoint_created else []

            @staticmethod
            def create(display_name: str) -> Endpoint:
                fake.endpoint_created = True
                return Endpoint()

            def undeploy(self, deployed_model_id: str, sync: bool) -> None:
                fake.undeployed.append(deployed_model_id)
                fake.traffic.pop(deployed_model_id)

        self.Model = Model
        self.Endpoint = Endpoint

    def init(self, project: str, location: str) -> None:
        assert (project, location) == ("test-project", "us-central1")


def test_first_push_creates_the_parent_and_later_pushes_add_versions() -> None:
    fake = FakeAiplatform()
    assert push_to_registry("gs://b/push/1", SETTINGS, fake) == (f"{PARENT}@1", "1")
    assert push_to_registry("gs://b/push/2", SETTINGS, fake) == (f"{PARENT}@2", "2")
    first, second = fake.versions
    assert (first["model_id"], first["parent_model"]) == ("taxi_big_tipper", None)
    assert (second["model_id"], second["parent_model"]) == (None, PARENT)
    assert [v["artifact_uri"] for v in fake.versions] == ["gs://b/push/1", "gs://b/push/2"]
    assert all(
        v["is_default_version"] and v["serving_container_image_uri"] == SETTINGS.serving_image for v in fake.versions
    )


def test_full_traffic_retires_the_previous_version_and_a_canary_keeps_it() -> None:
    fake = FakeAiplatform()
    push_to_registry("gs://b/push/1", SETTINGS, fake)
    push_to_registry("gs://b/push/2", SETTINGS, fake)
    assert fake.traffic == {"deployed-2": 100}
    assert fake.undeployed == ["deployed-1"]

    canary = VertexServing(**{**SETTINGS.__dict__, "traffic_percentage": 10})
    push_to_registry("gs://b/push/3", canary, fake)
    assert fake.traffic == {"deployed-2": 90, "deployed-3": 10}
    assert fake.undeployed == ["deployed-1"]
    assert fake.deployments[-1]["traffic_percentage"] == 10
    assert fake.deployments[-1]["deployed_model_display_name"] == "taxi_big_tipper-v3"


def test_without_an_endpoint_versions_are_only_registered() -> None:
    fake = FakeAiplatform()
    push_to_registry("gs://b/push/1", VertexServing(**{**SETTINGS.__dict__, "endpoint_name": ""}), fake)
    assert len(fake.versions) == 1
    assert fake.deployments == []
    assert not fake.endpoint_created


def _run_executor(tmp_path: Path, blessed: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, FakeAiplatform]:
    fake = FakeAiplatform()
    import google.cloud

    monkeypatch.setitem(sys.modules, "google.cloud.aiplatform", fake)
    monkeypatch.setattr(google.cloud, "aiplatform", fake, raising=False)
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    (tmp_path / "model" / "Format-Serving").mkdir(parents=True)
    (tmp_path / "model" / "Format-Serving" / "saved_model.pb").write_bytes(b"model")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    component = VertexModelRegistryPusher(
        model=types.Channel(type=standard_artifacts.Model),
        model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        settings=SETTINGS,
    )
    Executor().Do(
        {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}, component.exec_properties
    )
    return pushed, fake


def test_executor_registers_a_copy_of_a_blessed_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pushed, fake = _run_executor(tmp_path, True, monkeypatch)
    assert (tmp_path / "pushed" / "saved_model.pb").read_bytes() == b"model"
    assert fake.versions[0]["artifact_uri"] == str(tmp_path / "pushed")
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == f"{PARENT}@1"
    assert pushed.get_string_custom_property("pushed_version") == "1"


def test_executor_leaves_an_unblessed_model_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pushed, fake = _run_executor(tmp_path, False, monkeypatch)
    assert pushed.get_int_custom_property("pushed") == 0
    assert fake.versions == []
    assert not (tmp_path / "pushed").exists()
