"""record() and read_records(): the bridge between a notebook and its test."""

import json

import numpy as np

from helpers.record import MIME, read_records, record


def test_record_round_trip(tmp_path, capsys):
    assert record("n", np.int64(3)) == 3
    assert record("xs", np.array([1.5, 2.5])) == [1.5, 2.5]
    assert record("ids", {3, 1, 2}) == [1, 2, 3]
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
