"""Q3 benchmark: a smoke run at toy sizes (the timings themselves are not tested)."""

from __future__ import annotations

import importlib.util
import json

from pipeline.results import REPO_ROOT


def test_speed_benchmark_runs_and_reports_ratios(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "data"))
    spec = importlib.util.spec_from_file_location("q3_speed", REPO_ROOT / "benchmarks" / "q3_speed.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "speed.json"
    status = bench.main(["--clips", "6", "--train-batches", "1", "--batch-size", "2", "--decode-clips", "2",
                         "--decode-batch", "2", "--decode-steps", "3", "--width", "16", "--encoder-blocks", "1",
                         "--json", str(out)])
    assert status == 0
    report = json.loads(out.read_text())
    for row in report["decoders"].values():
        assert row["train_clips_per_s"]["ratio"] > 0 and row["decode_clips_per_s"]["ratio"] > 0
    assert "peak resident memory" in capsys.readouterr().out


def test_quality_per_minute_benchmark_runs_both_recipes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "data"))
    spec = importlib.util.spec_from_file_location("q3_qpm", REPO_ROOT / "benchmarks" / "q3_quality_per_minute.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    old, new = bench.recipes(None, 1.0).values()
    assert (old.corpus_size, old.epochs, old.trim_targets, old.parallel_decoders) == (2400, 12, False, False)
    assert new.corpus_size > old.corpus_size and new.trim_targets and new.parallel_decoders
    status = bench.main(["--epochs", "1", "--clips-scale", "0.001", "--test-clips", "3", "--out", str(tmp_path)])
    assert status == 0
    report = json.loads((tmp_path / "q3_quality_per_minute.json").read_text())
    for label in ("old", "new"):
        for rows in report["recipes"][label]["curves"].values():
            assert len(rows) == 1 and rows[0]["cpu_s"] > 0 and rows[0]["test_cer"] >= 0
    assert (tmp_path / "q3_quality_per_minute.png").stat().st_size > 0
    assert "CPU min" in capsys.readouterr().out
