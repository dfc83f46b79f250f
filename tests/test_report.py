"""The docs' generated tables: current with the committed results, and a results file with a missing key refused
naming the file and the key."""

import json
import re
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


def _documented_commands():
    """Every ``python -m experiments.* / benchmarks.*`` command in the README, docs/ and experiments/README.md:
    in bash blocks (continuation lines joined) and in inline code."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "experiments" / "README.md"]:
        text = path.read_text()
        lines = [line.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)
                 for line in block.replace("\\\n", " ").splitlines()]
        for command in lines + re.findall(r"`(python -m [^`]+)`", text):
            found = re.match(r"python -m ((?:experiments|benchmarks)\.\w+)(.*)", command, re.S)
            if found:
                yield path.relative_to(root), found.group(1), found.group(2)


def test_every_documented_command_parses():
    """A command a reader copies from the docs must at least be accepted by its CLI (the README once gave
    ``experiments.minatar --env Breakout-MinAtar``, which the CLI refuses). Commands with shell variables,
    globs or placeholders (``--dims N``) are left out."""
    import contextlib
    import importlib
    import io
    import shlex

    import tyro

    checked, bad = 0, []
    for path, module, rest in _documented_commands():
        argv = shlex.split(rest, comments=True)
        if any(set(a) & set("$<>{}*") or "..." in a or re.fullmatch(r"[A-Z]{1,2}", a) for a in argv):
            continue
        mod = importlib.import_module(module)
        parse = getattr(mod, "parse", None) or (lambda a, mod=mod: tyro.cli(mod.Args, args=a))
        checked += 1
        try:
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                parse(argv)
        except SystemExit:
            bad.append(f"{path}: python -m {module} {' '.join(argv)}")
    assert checked > 50 and not bad, "\n".join(bad)
