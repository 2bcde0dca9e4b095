"""`explain`'s own checks: JSON types as the model reads them, and a top list of the features sent."""

from __future__ import annotations

import pytest

from pipeline.explanations import Explanation
from runners.commands import explain
from runners.errors import EXIT_USAGE, RunError

KINDS = {"fare": "float", "trip_start_hour": "int", "payment_type": "string"}


def test_a_string_for_a_number_is_refused_naming_the_feature() -> None:
    with pytest.raises(RunError, match=r"instance 0, feature 'fare' is \"9.25\" \(str\); expected a number") as err:
        explain._check_json_types([{"fare": "9.25"}], KINDS)
    assert err.value.exit_code == EXIT_USAGE
    with pytest.raises(RunError, match=r"'trip_start_hour' is true"):
        explain._check_json_types([{"trip_start_hour": True}], KINDS)
    with pytest.raises(RunError, match=r"'payment_type' is 3 .int.; expected a string"):
        explain._check_json_types([{"payment_type": 3}], KINDS)


def test_well_typed_instances_pass() -> None:
    explain._check_json_types([{"fare": 9, "trip_start_hour": 3, "payment_type": "Cash", "tips": None}], KINDS)


def test_the_top_list_holds_only_features_the_instance_sent() -> None:
    found = Explanation(0.7, 0.5, {"fare": 0.1, "trip_start_hour": 0.0, "payment_type": 0.0, "company": 0.0})
    assert explain._top(found, {"fare": 9.0, "payment_type": "Cash"}, 5) == [("fare", 0.1), ("payment_type", 0.0)]
    assert explain._top(found, {"fare": 9.0, "payment_type": "Cash"}, 1) == [("fare", 0.1)]
