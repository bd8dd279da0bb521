"""Report-level findings: what the top of a section says about its results (stale, overrides)."""

from __future__ import annotations

from pathlib import Path

from pipeline.findings.report import findings, section_status
from pipeline.stages import stage
from pipeline.status import ExperimentStatus


def status(state="fresh", reasons=(), recorded=None, departures=(), profile="quick", real_data=False):
    return ExperimentStatus(stage("q3_asr"), profile, Path("results.json"), state, list(reasons),
                            overrides=dict(recorded or {}), recorded=dict(recorded or {}),
                            departures=list(departures), real_data=real_data)


def test_fresh_results_get_no_note():
    s = section_status(status())
    assert not s.stale and s.reasons.empty and not s.with_overrides


def test_stale_results_say_why_and_what_reruns_them():
    s = section_status(status("stale", ["hw2/q3/model.py changed", "torch 2.1 -> 2.2"]))
    assert s.stale and s.reasons.items == ("hw2/q3/model.py changed", "torch 2.1 -> 2.2")
    assert s.fix == "make q3 PROFILE=quick"


def test_a_long_list_of_reasons_is_cut_with_a_count():
    s = section_status(status("stale", [f"hw2/q3/m{i}.py changed" for i in range(7)]))
    assert s.reasons.count == 4 and s.more_reasons == 3


def test_stale_results_made_with_overrides_are_fixed_by_make_report():
    s = section_status(status("stale", ["hw2/q3/model.py changed"], recorded={"data": "ljspeech"},
                              departures=[("data", "ljspeech", "standin")], profile="default"))
    assert s.fix == "make report"  # keeps the overrides; make q3 would drop them
    assert s.back_to_profile == "make q3"
    assert [(o.key, o.value, o.profile_value) for o in s.overrides.items] == [("data", '"ljspeech"', '"standin"')]


def test_overrides_equal_to_the_profile_are_not_called_overrides():
    s = section_status(status(recorded={"data": "standin"}, departures=[]))
    assert not s.with_overrides


def test_report_lists_stale_sections_and_sections_with_overrides():
    report = findings("quick-seeds2", "pandoc", [status("stale", ["x changed"], profile="quick-seeds2"),
                                                 ExperimentStatus(stage("q1_attention"), "quick-seeds2", Path("r"),
                                                                  "fresh", departures=[("timing_D", [8], [4])])])
    assert report.repeated and report.n_seeds == 2 and report.base_is_quick
    assert report.stale_sections.items == ("q3_asr",)
    assert report.sections_with_overrides.items == ("q1_attention",)
    assert report.sections["q3_asr"].fix == "make q3 PROFILE=quick SEEDS=2"
