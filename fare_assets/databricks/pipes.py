"""The Pipes session of a task running on Databricks: context and messages through UC volumes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster_pipes import (
    PipesCliArgsParamsLoader,
    PipesContext,
    PipesUnityCatalogVolumesContextLoader,
    PipesUnityCatalogVolumesMessageWriter,
    open_dagster_pipes,
)


@contextmanager
def open_databricks_pipes() -> Iterator[PipesContext]:
    # Serverless tasks receive no Pipes environment variables: the client sends CLI arguments.
    with open_dagster_pipes(
        context_loader=PipesUnityCatalogVolumesContextLoader(),
        message_writer=PipesUnityCatalogVolumesMessageWriter(),
        params_loader=PipesCliArgsParamsLoader(),
    ) as context:
        yield context
