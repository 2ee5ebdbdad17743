"""Pure ML logic: trip sources, features, model search, evaluation, drift statistics.

Nothing here imports Dagster or knows where it runs; local and Databricks tasks share it.
"""
