"""Settings: defaults like the exemplar's variables; a wrong value names the variable and the accepted forms."""

from datetime import timedelta

import pytest

from fare_assets.settings import Settings, SettingsError


def test_defaults_follow_the_exemplar_names():
    settings = Settings.from_env({})
    assert settings.target == "local"
    assert settings.registered_model_name == "main.ml_serving.fare_predictor"
    assert settings.endpoint_name == "ml_serving_fare_predictor_endpoint"
    assert settings.batch_window == timedelta(hours=6)
    assert settings.monitor_window == timedelta(hours=24)
    assert settings.home.name == ".fare_assets"


def test_settings_survive_the_trip_to_a_task_and_back():
    settings = Settings.from_env({"FARE_ASSETS_BATCH_WINDOW": "7d", "FARE_ASSETS_TRAIN_START": "2019-01-01"})
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("FARE_ASSETS_BATCH_WINDOW", "six hours", "6h"),
        ("FARE_ASSETS_MONITOR_WINDOW", "0h", "24h"),
        ("FARE_ASSETS_TARGET", "cloud", "local, databricks"),
        ("FARE_ASSETS_TRAIN_START", "2016/01/01", "YYYY-MM-DD"),
        ("FARE_ASSETS_SERVING_PORT", "70000", "1 to 65535"),
        ("FARE_ASSETS_SCHEMA", "ml-serving", "identifier"),
        ("FARE_ASSETS_LOCATION_FEATURES", "maybe", "auto, true or false"),
        ("FARE_ASSETS_BATCH_WINDOW", "99999999999d", "3660 days"),
        ("FARE_ASSETS_SERVING_HOST", "999.1.1.1", "neither an IP address"),
        ("FARE_ASSETS_SERVING_HOST", "local host", "neither an IP address"),
        ("FARE_ASSETS_RETRAIN_MIN_ROWS", "10", "100 to 10000000"),
        ("FARE_ASSETS_MAX_RETRAINS_PER_SHIFT", "0", "1 to 100"),
    ],
)
def test_a_wrong_value_names_the_variable_and_the_accepted_forms(variable, value, named):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({variable: value})
    assert variable in str(error.value) and named in str(error.value)


def test_training_window_must_not_be_empty():
    with pytest.raises(SettingsError, match="must be before"):
        Settings.from_env({"FARE_ASSETS_TRAIN_START": "2016-03-01", "FARE_ASSETS_TRAIN_END": "2016-01-01"})


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "0.0.0.0", "localhost", "fares.internal.example"])
def test_a_serving_host_is_an_ip_address_or_a_host_name(host):
    assert Settings.from_env({"FARE_ASSETS_SERVING_HOST": host}).serving_host == host


@pytest.mark.parametrize(("target", "value", "with_locations"), [
    ("local", None, True), ("local", "auto", True), ("local", "false", False),
    # Auto is off on Databricks: Model Serving would drop a six-field request's missing zones.
    ("databricks", None, False), ("databricks", "true", True),
])
def test_location_features_are_on_where_a_request_without_zones_can_still_be_answered(target, value, with_locations):
    env = {"FARE_ASSETS_TARGET": target, **({"FARE_ASSETS_LOCATION_FEATURES": value} if value else {})}
    settings = Settings.from_env(env)
    assert settings.with_locations is with_locations
    assert Settings.from_env(settings.to_env()) == settings
