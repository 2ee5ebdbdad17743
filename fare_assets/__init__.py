"""fare-assets: NYC taxi fare prediction as a Dagster asset graph (`dagster ... -m fare_assets`).

`defs` is built on first access, so that Pipes tasks (`python -m fare_assets.tasks.<name>`),
which import this package, neither import Dagster nor read settings they were not sent.
"""


def __getattr__(name: str):
    if name == "defs":
        from fare_assets.definitions import build_definitions
        from fare_assets.settings import Settings

        globals()["defs"] = build_definitions(Settings.from_env())
        return globals()["defs"]
    raise AttributeError(f"module 'fare_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "defs"})
