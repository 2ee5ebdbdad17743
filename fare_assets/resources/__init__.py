"""Everything that touches an external system from the Dagster side, one implementation per target."""
