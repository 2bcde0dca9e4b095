"""Fuzzing the configuration readers: profiles YAML, TAXI_PIPELINE_* variables and flags.

Whatever they hold, load_config returns a valid config or raises ConfigError naming the file,
variable or option; the CLI shows that as one line and exit code 2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from pipeline.config import DEFAULT_PROFILES_FILE, ENV_PREFIX, FIELDS, ConfigError, PipelineConfig, load_config
from runners import cli

pytestmark = pytest.mark.fuzz

PROFILES = DEFAULT_PROFILES_FILE.read_bytes()
NAMES = sorted(FIELDS)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "1e3", "300.0", "nan", "inf", "-1", "", " ", "none", "64,32", "a\0b", "٣"]),
)
yaml_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner))


def _load(data: bytes, environ: dict[str, str] | None = None, overrides: dict[str, Any] | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "profiles.yaml"
        path.write_bytes(data)
        try:
            config = load_config(profiles_file=path, environ=environ or {}, overrides=overrides)
        except ConfigError as err:
            assert str(err), "a ConfigError says what is wrong"
            return
    assert isinstance(config, PipelineConfig)
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, float):
            assert math.isfinite(value), field.name


@given(st.dictionaries(st.sampled_from(NAMES), yaml_values, max_size=4))
@example({"hidden_units": [[[1]]]})
@example({"home": True})  # `home: yes`
@example({"learning_rate": float("inf")})
@example({"home": "out\0put"})
def test_any_profile_values_give_a_config_or_a_config_error(values: dict[str, Any]) -> None:
    _load(yaml.safe_dump({"local": values}).encode())


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    data = PROFILES
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["insert", "truncate", "token", "encode"]))
        if edit == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif edit == "truncate":
            data = data[:at]
        elif edit == "encode":
            data = draw(
                st.sampled_from(
                    [
                        b"\xef\xbb\xbf" + data,
                        data.decode("utf-8", "replace").encode("utf-16"),
                        data.replace(b"\n", b"\r\n"),
                    ]
                )
            )
        else:
            token = draw(
                st.sampled_from(
                    [
                        b"\0",
                        b"\t",
                        b": ",
                        b"- ",
                        b"!!int x",
                        b"!!float x",
                        b"!!timestamp 2024-13-01",
                        b"&a [*a, *a]",
                        b"{",
                        b"[",
                        b"'",
                        b'"',
                        b"? [a]\n: 1\n",
                        b"\n  train_steps: 300.0\n",
                        b"\xff",
                    ]
                )
            )
            data = data[:at] + token + data[at:]
    return data


@given(mutated_files())
@example(b"local:\n  train_steps: !!int abc\n")  # PyYAML's own ValueError
@example(b"local:\n  span: !!timestamp 2024-13-01\n")
@example(b"local: " + b"[" * 3000)  # PyYAML recursion
@example(b"local:\n  1: 2\n  home: x\n")  # an int key beside str keys: sorting the unknown ones failed
@example(b"\xef\xbb\xbflocal:\n  train_steps: 3\n")  # a UTF-8 BOM: read
@example("local:\n  train_steps: 3\n".encode("utf-16"))
@example(b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nlocal:\n  labels: [*c, *c, *c]\n")  # aliases
def test_any_profiles_file_gives_a_config_or_a_config_error(data: bytes) -> None:
    _load(data)


def test_a_bom_file_is_read_and_a_folder_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"\xef\xbb\xbflocal:\n  train_steps: 3\n")
    assert load_config(profiles_file=path, environ={}).train_steps == 3
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(profiles_file=tmp_path, environ={})


env_text = st.text(st.characters(blacklist_characters="\0", blacklist_categories=["Cs"]), max_size=16)


@given(st.dictionaries(st.sampled_from(NAMES).map(lambda n: ENV_PREFIX + n.upper()), env_text, max_size=4))
@example({ENV_PREFIX + "LEARNING_RATE": "inf"})
@example({ENV_PREFIX + "TRAIN_STEPS": "300.0"})
@example({ENV_PREFIX + "SERVE_LOG_SAMPLING": "nan"})
def test_any_environment_gives_a_config_or_a_config_error(environ: dict[str, str]) -> None:
    _load(PROFILES, environ=environ)


flag_text = st.text(st.characters(blacklist_characters="\0", blacklist_categories=["Cs"]), min_size=1, max_size=12)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["--span", "--window-spans", "--train-steps", "--min-accuracy", "--home", "--data-root"]),
            flag_text,
        ),
        max_size=3,
    )
)
@example([("--min-accuracy", "nan")])
@example([("--train-steps", "3.0")])
def test_any_run_flags_give_a_config_a_usage_error_or_a_config_error(flags: list[tuple[str, str]]) -> None:
    argv = ["run", *(f"{flag}={value}" for flag, value in flags)]
    try:
        args = cli.build_parser(argv).parse_args(argv)
    except SystemExit as stop:  # argparse's one-line usage error, exit 2
        assert stop.code == 2
        return
    with contextlib.suppress(ConfigError):
        cli.config_from_args(args)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("home: yes", "quote it in YAML"),
        ('home: "out\\0put"', "without NUL"),
        ("learning_rate: .inf", "a finite number"),
        ("labels: [[a=b]]", "a flat list"),
        ("train_steps: !!int many", "YAML cannot read"),
    ],
)
def test_values_that_were_read_wrongly_or_crashed_are_config_errors(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"local:\n  {text}\n")
    with pytest.raises(ConfigError, match=says):
        load_config(profiles_file=path, environ={})
