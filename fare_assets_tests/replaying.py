"""Run `fare-assets replay` as a user does, in a temp home, and read its stdout."""

from __future__ import annotations

import json
import os
import tempfile

import pytest

from fare_assets.cli import main


def replay_cli(env: dict[str, str], until: str) -> list[dict]:
    """`fare-assets replay --until UNTIL --json` with these FARE_ASSETS_* variables; the steps."""
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryFile("w+") as captured:
        for key, value in env.items():
            patch.setenv(key, value)
        saved = os.dup(1)
        os.dup2(captured.fileno(), 1)
        try:
            code = main(["replay", "--until", until, "--json"])
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        captured.seek(0)
        lines = captured.read().splitlines()
    assert code == 0
    return [json.loads(line) for line in lines]
