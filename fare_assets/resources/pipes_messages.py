"""Reading a local task's Pipes messages from its message file, one whole line at a time.

Dagster's PipesTempFileMessageReader tails the file with `dagster._utils.tail_file`, which yields
whatever `readline()` returns; at the end of a file that the task is still writing, that can be
the first part of a line. `json.loads` then fails, the reader thread dies, and every later message
of the task is lost. Seen here under load: a monitoring window's materialization (its chart data
makes it tens of kB, more than one write) was followed by "op 'model_monitoring' did not yield or
return expected outputs" for its checks, whose messages were never read. Linux does not make a
read wait for a write to a regular file to finish, so any message may be cut this way; large ones
often are. `test_pipes_messages.py` shows Dagster's reader losing a message that this one keeps.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from threading import Event, Thread

from dagster import PipesMessageReader
from dagster_pipes import PipesDefaultMessageWriter

POLL_SECONDS = 0.01


def whole_lines(path: str, should_stop: Callable[[], bool]) -> Iterator[str]:
    """The file's lines as they are completed; once `should_stop()` (the writer is done), the rest."""
    pending = ""
    with open(path, encoding="utf-8") as stream:
        while True:
            pending += stream.readline()
            if pending.endswith("\n"):
                yield pending
                pending = ""
            elif should_stop():
                # The writer has exited: what it wrote is all there. A last line without its
                # newline is a message cut short, and json.loads will say so.
                pending += stream.read()
                if pending.strip():
                    yield pending
                return
            else:
                time.sleep(POLL_SECONDS)


class WholeLineMessageReader(PipesMessageReader):
    """A temp-file message reader for PipesSubprocessClient that never parses part of a line."""

    @contextmanager
    def read_messages(self, handler) -> Iterator[dict]:
        done = Event()
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "messages")
            open(path, "w", encoding="utf-8").close()
            reader = Thread(target=self._read, args=(path, handler, done), daemon=True)
            reader.start()
            try:
                yield {PipesDefaultMessageWriter.FILE_PATH_KEY: path,
                       PipesDefaultMessageWriter.INCLUDE_STDIO_IN_MESSAGES_KEY: False}
            finally:
                done.set()
                reader.join()

    @staticmethod
    def _read(path: str, handler, done: Event) -> None:
        try:
            for line in whole_lines(path, done.is_set):
                handler.handle_message(json.loads(line))
        except Exception:  # noqa: BLE001 - reported to the run, as Dagster's own reader does
            handler.report_pipes_framework_exception("WholeLineMessageReader reader thread", sys.exc_info())

    def no_messages_debug_text(self) -> str:
        return "Attempted to read messages from a local temporary file, one whole line at a time."
