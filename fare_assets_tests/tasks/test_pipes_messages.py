"""A task's Pipes messages arrive whole, even when the reader catches one half written."""

import json
import threading
import time

import pytest
from dagster._utils import tail_file

from fare_assets.resources.pipes_messages import WholeLineMessageReader, whole_lines

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


def test_dagsters_tail_file_hands_out_half_a_line_which_is_why_ours_exists(tmp_path):
    """Dagster's reader parses what `tail_file` yields; given a file whose last line is still being
    written, it yields that half line. If this fails, Dagster reads whole lines now, and
    WholeLineMessageReader can go."""
    path = tmp_path / "messages"
    path.write_text(json.dumps(BIG)[:1000], encoding="utf-8")
    deadline = time.monotonic() + 0.5
    first = next(tail_file(str(path), lambda: time.monotonic() > deadline), None)
    with pytest.raises(json.JSONDecodeError):
        json.loads(first or "")


def test_whole_lines_wait_for_the_end_of_a_line_written_in_two_parts(tmp_path):
    path = tmp_path / "messages"
    line = json.dumps(BIG) + "\n"
    path.write_text(line[:1000], encoding="utf-8")  # the reader starts on half a line
    finished = threading.Event()

    def finish():
        time.sleep(0.2)
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(line[1000:] + json.dumps(SMALL) + "\n")
        finished.set()

    writer = threading.Thread(target=finish)
    writer.start()
    lines = list(whole_lines(str(path), finished.is_set))
    writer.join()
    assert [json.loads(line) for line in lines] == [BIG, SMALL]


def test_a_message_cut_short_by_a_dying_task_is_reported_not_swallowed(tmp_path):
    handler = Collected()
    with WholeLineMessageReader().read_messages(handler) as params:
        with open(params["path"], "a", encoding="utf-8") as stream:
            stream.write(json.dumps(SMALL) + "\n" + json.dumps(BIG)[:500])
    assert handler.messages == [SMALL]
    assert len(handler.errors) == 1 and "WholeLineMessageReader" in handler.errors[0]
