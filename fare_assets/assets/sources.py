"""The raw trips, declared so the UI shows where the data comes from."""

from dagster import AssetSpec


def trips_spec(source_description: str) -> AssetSpec:
    return AssetSpec(
        "trips",
        description=f"Raw taxi trips from {source_description} (external: read, never written).",
        group_name="sources",
        kinds={"source"},
    )
