"""Thin asset functions by stage: each declares lineage, picks its task and passes parameters."""
