"""record() and read_records(): the bridge between a notebook and its test."""

import json

import numpy as np

from helpers.record import MIME, read_records, record


def test_record_round_trip(tmp_path, capsys, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    assert record("n", np.int64(3)) is None  # nothing to show as a cell's last value
    record("xs", np.array([1.5, 2.5]))
    record("ids", {3, 1, 2})
    assert shown == [{MIME: {"n": 3}}, {MIME: {"xs": [1.5, 2.5]}}, {MIME: {"ids": [1, 2, 3]}}]
    nb = {
        "cells": [
            {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {MIME: {"a": 1}}}]},
            {"cell_type": "markdown"},
            {
                "cell_type": "code",
                "outputs": [
                    {"output_type": "display_data", "data": {MIME: {"a": 2, "b": [1]}}},
                    {"output_type": "stream", "text": "hi"},
                ],
            },
        ]
    }
    path = tmp_path / "executed.ipynb"
    path.write_text(json.dumps(nb))
    assert read_records(path) == {"a": 2, "b": [1]}  # a later record wins
