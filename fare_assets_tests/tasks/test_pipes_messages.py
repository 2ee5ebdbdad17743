"""A task's Pipes messages arrive whole, even when the reader catches one half written."""

import json
import threading
import time

import pytest
from dagster._core.pipes.utils import PipesFileMessageReader

from fare_assets.resources.pipes_messages import WholeLineMessageReader

BIG = {"__dagster_pipes_version": "0.1", "method": "report_asset_materialization",
       "params": {"metadata": {"chart_data": {"raw_value": "x" * 40_000, "type": "text"}}}}
SMALL = {"__dagster_pipes_version": "0.1", "method": "report_asset_check", "params": {"check_name": "ks"}}


class Collected:
    """The two calls a reader makes on Dagster's PipesMessageHandler."""

    def __init__(self):
        self.messages, self.errors = [], []

    def handle_message(self, message):
        self.messages.append(message)

    def report_pipes_framework_exception(self, origin, exc_info):
        self.errors.append(f"{origin}: {exc_info[1]}")


def write_slowly(path):
    """A large message in two writes with a pause between (as a loaded machine may make them), then a small one."""
    line = json.dumps(BIG) + "\n"
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line[:1000])
        stream.flush()
        time.sleep(0.3)
        stream.write(line[1000:])
        stream.write(json.dumps(SMALL) + "\n")


def read_while_written(reader):
    handler = Collected()
    with reader.read_messages(handler) as params:
        time.sleep(0.1)  # the reader is tailing the empty file
        writer = threading.Thread(target=write_slowly, args=(params["path"],))
        writer.start()
        writer.join()
    return handler


def test_a_message_read_half_written_arrives_whole_and_so_do_the_later_ones():
    handler = read_while_written(WholeLineMessageReader())
    assert handler.messages == [BIG, SMALL] and handler.errors == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_dagsters_own_reader_loses_them_which_is_why_ours_exists(tmp_path):
    """If this fails, Dagster's tail_file reads whole lines now, and WholeLineMessageReader can go."""
    handler = read_while_written(PipesFileMessageReader(str(tmp_path / "messages")))
    assert BIG not in handler.messages and SMALL not in handler.messages
    assert len(handler.errors) == 1 and "reader thread" in handler.errors[0]  # json.loads on half a line


def test_a_message_cut_short_by_a_dying_task_is_reported_not_swallowed(tmp_path):
    handler = Collected()
    with WholeLineMessageReader().read_messages(handler) as params:
        with open(params["path"], "a", encoding="utf-8") as stream:
            stream.write(json.dumps(SMALL) + "\n" + json.dumps(BIG)[:500])
    assert handler.messages == [SMALL]
    assert len(handler.errors) == 1 and "WholeLineMessageReader" in handler.errors[0]
