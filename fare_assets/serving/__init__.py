"""The local serving endpoint: a Databricks-compatible scoring server and its process manager."""
