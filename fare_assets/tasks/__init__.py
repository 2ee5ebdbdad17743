"""Pipes entry points: `python -m fare_assets.tasks.<name>`, run by Dagster locally or on Databricks.

Task modules import dagster_pipes, never dagster: they run where Dagster is not installed.
"""
