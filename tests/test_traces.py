"""Reading printed numbers back through their hover traces (pipeline/report/traces.py)."""

from __future__ import annotations

import math

import pytest

from pipeline.errors import Hw2Error
from pipeline.report.traces import format_kind, format_like, parse_trace, printed_numbers, value_reader
from pipeline.report.values import FILTERS, traced

Q2 = "results/default/q2_cnn/results.json"
Q3 = "/tmp/elsewhere/default/q3_asr/results.json"
VALUES = {"q2_cnn": {"a": {"val": 0.9}, "b": {"val": 0.8}, "c": 4.0},
          "q3_asr": {"corpus": {"voice_counts": {"en-us+f2": 12}}, "x": [1.5, 2.5]}}


def traced_values():
    return (traced(0.9, f"{Q2}: a.val"), traced(0.8, f"{Q2}: b.val"), traced(4.0, f"{Q2}: c"),
            traced(12.0, f"{Q3}: corpus.voice_counts.en-us+f2"), traced(2.5, f"{Q3}: x[1]"))


def derived():
    a, b, c, voices, x = traced_values()
    return [a, a - b, (a - b) / c, a - (b - c), abs((a - b) * 100), -(a - b), a / voices, (a - b) * (c - x),
            c - b - a, c / (a * b), 100 * a, voices + x]


@pytest.mark.parametrize("value", derived(), ids=lambda v: v.trace)
def test_a_trace_evaluates_to_the_value_it_was_made_with(value):
    """Catches lost parentheses in derived traces (a − (b − c) read as a − b − c) and bad keys."""
    expression = parse_trace(value.trace)
    assert expression.evaluate(value_reader(VALUES)) == pytest.approx(float(value), rel=1e-12)


def test_references_name_the_experiment_and_key_wherever_the_results_live():
    a, _, _, voices, _ = traced_values()
    expression = parse_trace((a / voices).trace)
    assert [(r.experiment, r.key) for r in expression.refs] == [("q2_cnn", "a.val"),
                                                                 ("q3_asr", "corpus.voice_counts.en-us+f2")]
    assert expression.label == "(a.val) / (corpus.voice_counts.en-us+f2)"
    assert not expression.is_single and parse_trace(a.trace).is_single


def test_a_missing_key_is_a_key_error_not_a_wrong_number():
    with pytest.raises(KeyError):
        parse_trace(f"{Q2}: a.nope").evaluate(value_reader(VALUES))
    with pytest.raises(KeyError):
        parse_trace(f"{Q2}: a.val").evaluate(value_reader({}))


@pytest.mark.parametrize("trace", ["no file here", f"{Q2}: a.val −", f"({Q2}: a.val"])
def test_malformed_traces_are_one_line_errors(trace):
    with pytest.raises(Hw2Error):
        parse_trace(trace)


def test_printed_numbers_are_collected_once_each_in_order():
    num, pct = FILTERS["num"], FILTERS["pct"]
    a, b, *_ = traced_values()
    text = f"x {num(a, 3)} y {pct(b)} z {num(a, 3)} and in math $0.9$"
    found = printed_numbers(text)
    assert [(p.text, p.count) for p in found] == [("0.900", 2), ("80.0%", 1)]
    assert found[1].expression.refs[0].key == "b.val"


@pytest.mark.parametrize("name,value,args", [
    ("num", 0.83181, (3,)), ("num", -0.5, (1,)), ("num", 12.0, (0,)), ("pct", 0.8318, ()), ("pct", 0.5, (2,)),
    ("intcomma", 224892, ()), ("intcomma", 7, ()), ("seconds", 0.0123, ()), ("seconds", 45.67, ()),
    ("seconds", 1234.0, ()), ("seconds", 9000.0, ()), ("bytes", 3.5 * 2**20, ()), ("sig", 0.012345, (3,)),
])
def test_format_like_reproduces_the_report_formats(name, value, args):
    """Catches a rerun value formatted differently from the printed one (a false 'differs')."""
    printed = FILTERS[name](value, *args)
    assert format_like(printed, value) == printed
    shifted = value * 1.5 + 1
    assert format_like(printed, shifted) == FILTERS[name](shifted, *args) or name in ("sig", "seconds", "bytes")


def test_format_kind_tells_two_printings_of_one_value_apart():
    assert format_kind("0.83") != format_kind("0.832")
    assert format_kind("83.2%") != format_kind("0.832")
    assert format_kind("12.3 s") == format_kind("4.5 s")
    assert format_kind("1,234") != format_kind("1234")
    assert not math.isnan(parse_trace(f"{Q2}: c").evaluate(value_reader(VALUES)))
