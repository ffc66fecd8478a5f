"""The receptive-field experiment: measured fields equal ember.summary's, and grow as the
lessons compute."""
import os

import pytest

from ember.experiments import run_experiment


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_experiment("receptive-field", tmp_path_factory.mktemp("rf"), quick=True)


def test_fields_grow_as_computed(result):
    s = result.summary
    assert [s["size"][n][0] for n in s["layers"]] == [3, 5, 6, 10, 14, 16, 24]
    for name in s["layers"]:
        assert s["size"][name] == s["analytic"][name]
        h, w = s["size"][name]
        assert 0 < s["effective"][name] <= h * w


def test_files(result):
    assert [os.path.basename(p) for p in result.figures + result.csvs] == \
        ["fields.png", "fields.csv"]


def test_a_chosen_pixel(tmp_path):
    r = run_experiment("receptive-field", tmp_path, quick=True, pixel=(5, 20),
                       widths=(4, 4, "M", 4))
    s = r.summary
    assert s["box"]["1"] == ((4, 6), (19, 21))  # the 3x3 field centred on the pixel
    assert s["box"]["3"] == ((3, 7), (18, 22))
    rows, cols = s["box"]["6"]  # after the pool: field 10, jump 2
    assert rows[0] <= 5 <= rows[1] and cols[0] <= 20 <= cols[1]
    assert s["size"]["6"] == (10, 10)
