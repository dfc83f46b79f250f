"""The docs' generated tables: current with the committed results, and a results file with a missing key refused
naming the file and the key."""

import json
import shutil

import pytest

from experiments import report


def test_the_generated_tables_in_docs_are_current():
    stale = report.main(report.Args(check=True))
    assert stale == [], f"stale pages {stale}: run python -m experiments.report"


def test_a_results_file_with_a_missing_key_is_named(tmp_path):
    run = "cartpole1d_k2_ppmo_s0"
    for name, _ in report.CARTPOLE:
        (tmp_path / name).mkdir()
        shutil.copy(report.RESULTS / name / "results.json", tmp_path / name / "results.json")
    text = "x\n<!-- report:cartpole -->\nold\n<!-- /report:cartpole -->\ny\n"
    filled = report.render(text, tmp_path)
    assert filled.startswith("x\n<!-- report:cartpole -->\n| task |") and "old" not in filled
    assert "| CartPole1D-v1 | 2 | **499.4 ± 10.1** (n = 1000) | 500 ± 0 |" in filled
    assert report.render(filled, tmp_path) == filled
    path = tmp_path / run / "results.json"
    result = json.loads(path.read_text())
    del result["meta_epochs"]
    path.write_text(json.dumps(result))
    with pytest.raises(report.ReportError, match=f"{path}: missing key 'meta_epochs'"):
        report.render(text, tmp_path)
    result["meta_epochs"] = 200
    result["kshot"] = [row for row in result["kshot"] if row["policy"] != "greedy"]
    path.write_text(json.dumps(result))
    with pytest.raises(report.ReportError, match="missing key 'kshot' row with policy 'greedy'"):
        report.render(text, tmp_path)
    with pytest.raises(report.ReportError, match="unknown table 'nope'"):
        report.render("<!-- report:nope -->\n<!-- /report:nope -->", tmp_path, "page.md")
