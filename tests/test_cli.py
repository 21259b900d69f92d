"""The command line (analysis/cli.py) and the report helpers it relies on (analysis/report/).

Fast tests call ``main()`` in-process or run ``python -m analysis`` in a subprocess (to see the
exit code and stderr a user sees). The end-to-end ``investigate`` run, with a prompt holding
``<script>`` and an email address, is marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from analysis import cli, report
from analysis.report import validate_parameters

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
XSS = "<script>alert(1)</script>"
EMAIL = "jane.doe@example.com"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=timeout,
    )


# ----------------------------------------------------------------------------------------------
# Help and usage
# ----------------------------------------------------------------------------------------------


def test_help_lists_the_three_commands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("investigate", "demo", "generate"):
        assert command in out.stdout


def test_no_command_prints_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    assert "investigate" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flag",
    ["--events", "--changes", "--reported-at", "--pattern", "--metric", "--segment-by", "--out", "--assume-tz",
     "--mapping", "--evaluations", "--no-redact", "--window", "--seed"],
)
def test_investigate_help_documents_every_option(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["investigate", "--help"])
    assert exc.value.code == 0
    assert flag in capsys.readouterr().out


def test_demo_and_generate_help(capsys: pytest.CaptureFixture[str]) -> None:
    generate_flags = ["--out", "--scale", "--seed", "--case", "--no-baseline", "--chunked", "--in-memory", "--partition-by", "--max-chunk-events"]
    for command, flags in (("demo", ["--out", "--data"]), ("generate", generate_flags)):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = capsys.readouterr().out
        assert all(f in text for f in flags)


# ----------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit code 2, no traceback
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_inputs(tmp_path: Path) -> tuple[Path, Path]:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "e1", "ts": "2026-03-01T00:00:00Z"}\n', encoding="utf-8")
    changes = tmp_path / "changes.csv"
    changes.write_text("change_id,ts,change_type\nc1,2026-03-01T00:00:00Z,deploy\n", encoding="utf-8")
    return events, changes


def _assert_one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_events_file(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    _, changes = tiny_inputs
    out = run_cli("investigate", "--events", str(tmp_path / "nope.parquet"), "--changes", str(changes))
    _assert_one_line_error(out, "--events", "nope.parquet")


def test_missing_changes_file(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    events, _ = tiny_inputs
    out = run_cli("investigate", "--events", str(events), "--changes", str(tmp_path / "nope.csv"))
    _assert_one_line_error(out, "--changes", "nope.csv")


def test_missing_evaluations_file(tiny_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    events, changes = tiny_inputs
    out = run_cli("investigate", "--events", str(events), "--changes", str(changes),
                  "--evaluations", str(tmp_path / "no_evals.csv"))
    _assert_one_line_error(out, "--evaluations", "no_evals.csv")


def test_evaluations_parameter_error_names_the_flag() -> None:
    msg = report.ParameterError("`evaluations_path`: file not found: 'x.csv'")
    assert cli._cli_names(str(msg)).startswith("--evaluations: file not found")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--reported-at", "yesterday-ish"], ["--reported-at", "yesterday-ish"]),
        (["--reported-at", "2026-03-01T12:00:00"], ["--reported-at", "UTC offset"]),
        (["--window=-1h"], ["--window", "-1h"]),
        (["--window", "fortnight"], ["--window"]),
        (["--assume-tz", "Mars/Olympus"], ["--assume-tz", "Mars/Olympus"]),
        (["--segment-by", "risk category"], ["--segment-by"]),
        (["--seed", "-3"], ["--seed"]),
    ],
)
def test_bad_option_values(tiny_inputs: tuple[Path, Path], args: list[str], needles: list[str]) -> None:
    events, changes = tiny_inputs
    out = run_cli("investigate", "--events", str(events), "--changes", str(changes), *args)
    _assert_one_line_error(out, *needles)


def test_unknown_pattern_is_a_usage_error(tiny_inputs: tuple[Path, Path]) -> None:
    events, changes = tiny_inputs
    out = run_cli("investigate", "--events", str(events), "--changes", str(changes), "--pattern", "storm")
    _assert_one_line_error(out, "invalid choice: 'storm'", "--help")


def test_missing_required_option_is_one_line() -> None:
    _assert_one_line_error(run_cli("investigate", "--events", "x.parquet"), "--changes")


def test_reported_at_without_offset_is_accepted_with_assume_tz() -> None:
    p = {**_params(), "reported_at": "2026-03-01T12:00:00", "assume_tz": "Europe/Paris"}
    # 12:00 in Paris in March (CET, UTC+1) is 11:00 UTC (hand-worked: DST starts on 29 March 2026).
    assert validate_parameters(p).reported_at == pd.Timestamp("2026-03-01T11:00:00Z")


def test_demo_without_sample_data_says_to_generate(tmp_path: Path) -> None:
    out = run_cli("demo", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "reports"))
    _assert_one_line_error(out, "python -m analysis generate")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scale", "0"], "--scale"),
        (["--seed", "-1"], "--seed"),
        (["--case", "latency_spike"], "--case"),
        (["--partition-by", "day", "--in-memory"], "--partition-by"),
        (["--max-chunk-events", "0"], "--max-chunk-events"),
    ],
)
def test_generate_rejects_bad_options(args: list[str], needle: str, tmp_path: Path) -> None:
    out = run_cli("generate", "--out", str(tmp_path / "x"), *args)
    _assert_one_line_error(out, needle)
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------------------------
# What the commands pass on (in-process, with the heavy step replaced by a recorder)
# ----------------------------------------------------------------------------------------------


def _params(**overrides: object) -> dict[str, object]:
    return report.default_parameters(**{"events_path": __file__, "changes_path": __file__, "out_dir": "reports/x", **overrides})


class _Recorder:
    def __init__(self, tmp_path: Path):
        self.calls: list[dict[str, object]] = []
        self.tmp_path = tmp_path

    def __call__(self, parameters: dict[str, object], **kwargs: object) -> report.InvestigationRun:
        self.calls.append(dict(parameters))
        out = Path(str(parameters["out_dir"]))
        return report.InvestigationRun(out_dir=out, notebook=out / "nb.ipynb", html=out / "report.html", files={})


def test_investigate_passes_every_option_to_the_notebook(
    tiny_inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events, changes = tiny_inputs
    evaluations = tmp_path / "evals.csv"
    evaluations.write_text("ts,passed\n2026-03-01T06:00:00Z,true\n", encoding="utf-8")
    rec = _Recorder(tmp_path)
    monkeypatch.setattr(report, "run_investigation", rec)
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        ["investigate", "--events", events.name, "--changes", changes.name, "--evaluations", evaluations.name,
         "--reported-at", "2026-03-02T00:00:00Z",
         "--pattern", "refusal", "--metric", "refused", "--segment-by", "risk_category", "framing",
         "--window", "30min", "--out", "out", "--assume-tz", "UTC", "--no-redact", "--seed", "7", "--quiet"]
    )
    assert code == 0
    (p,) = rec.calls
    # Relative paths are the user's working directory's, made absolute for the kernel.
    assert p["events_path"] == str(events.resolve())
    assert p["changes_path"] == str(changes.resolve())
    assert p["evaluations_path"] == str(evaluations.resolve())
    assert p["out_dir"] == str((tmp_path / "out").resolve())
    assert p["segment_by"] == "risk_category,framing"
    assert (p["pattern"], p["metric"], p["window"], p["assume_tz"], p["seed"]) == ("refusal", "refused", "30min", "UTC", 7)
    assert p["redact"] is False and p["reported_at"] == "2026-03-02T00:00:00Z" and p["mapping_path"] == ""
    assert set(p) == set(report.NOTEBOOK_PARAMETERS)
    assert "Report written to" in capsys.readouterr().out


def test_demo_runs_the_three_cases_into_reports_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    for case in report.CASES:
        (data / case).mkdir(parents=True)
        (data / case / "events.parquet").write_bytes(b"")
        (data / case / "changes.csv").write_text("change_id,ts,change_type\n", encoding="utf-8")
    with_evals = next(iter(report.CASES))  # only this case folder has an evaluation history
    (data / with_evals / "evaluations.csv").write_text("ts,passed\n", encoding="utf-8")
    rec = _Recorder(tmp_path)
    monkeypatch.setattr(report, "run_investigation", rec)
    assert cli.main(["demo", "--data", str(data), "--out", str(tmp_path / "reports"), "--quiet"]) == 0
    assert [Path(str(c["out_dir"])).name for c in rec.calls] == list(report.CASES)
    assert [c["pattern"] for c in rec.calls] == list(report.CASES.values())
    assert all(c["redact"] is True for c in rec.calls)
    assert [c["evaluations_path"] for c in rec.calls] == [
        str(data.resolve() / case / "evaluations.csv") if case == with_evals else "" for case in report.CASES
    ]
    printed = capsys.readouterr().out
    for case in report.CASES:
        assert str(tmp_path / "reports" / case / "report.html") in printed


def test_generate_calls_write_sample_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenarios = pytest.importorskip("analysis.scenarios")
    seen: dict[str, object] = {}

    def fake(out_dir: object, *, scale: float = 1.0, seed: int = 0, progress: bool = True) -> None:
        seen.update(out_dir=out_dir, scale=scale, seed=seed, progress=progress)

    monkeypatch.setattr(scenarios, "write_sample_data", fake)
    assert cli.main(["generate", "--out", str(tmp_path / "sd"), "--scale", "0.5", "--seed", "3", "--quiet"]) == 0
    assert seen == {"out_dir": (tmp_path / "sd").resolve(), "scale": 0.5, "seed": 3, "progress": False}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # Small scales: today's in-memory call, unless asked otherwise.
        (["--scale", "10"], {}),
        (["--scale", "2", "--chunked"], {"chunked": True, "partition_by_day": False, "max_chunk_events": 400_000}),
        # Large scales switch to the chunked writer by themselves (CHUNKED_SCALE), unless --in-memory.
        (["--scale", "10.5"], {"chunked": True, "partition_by_day": False, "max_chunk_events": 400_000}),
        (["--scale", "50", "--in-memory"], {}),
        (
            ["--case", "refusal_regression", "escalation_storm", "--partition-by", "day", "--no-baseline", "--max-chunk-events", "1000"],
            {"cases": ("refusal_regression", "escalation_storm"), "baselines": False, "chunked": True,
             "partition_by_day": True, "max_chunk_events": 1000},
        ),
        (["--case", "all"], {}),
    ],
)
def test_generate_passes_case_and_chunked_options(
    args: list[str], expected: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenarios = pytest.importorskip("analysis.scenarios")
    seen: dict[str, object] = {}

    def fake(out_dir: object, *, scale: float = 1.0, seed: int = 0, progress: bool = True, **kwargs: object) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(scenarios, "write_sample_data", fake)
    assert cli.main(["generate", "--out", str(tmp_path / "sd"), "--quiet", *args]) == 0
    assert seen == expected


def test_generate_chunked_writes_a_hive_folder(tmp_path: Path) -> None:
    import pyarrow.dataset as pads

    out = tmp_path / "big"
    code = cli.main(["generate", "--out", str(out), "--scale", "0.2", "--seed", "1", "--case", "refusal_regression",
                     "--partition-by", "day", "--no-baseline", "--quiet"])
    assert code == 0
    folder = out / "refusal_regression"
    truth = json.loads((folder / "truth.json").read_text())
    assert pads.dataset(folder / "events", format="parquet", partitioning="hive").count_rows() == truth["n_events"] > 0
    assert (folder / "changes.csv").is_file() and (folder / "affected_event_ids.parquet").is_file()
    assert not (out / "refusal_regression_baseline").exists() and not (out / "escalation_storm").exists()


def test_a_failing_notebook_is_one_line_and_names_the_saved_notebook(
    tiny_inputs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events, changes = tiny_inputs

    def failing(parameters: object, **kwargs: object) -> None:
        raise report.NotebookFailed("SchemaError", "events.jsonl: column `ts` has timestamps without an offset", Path("/x/nb.ipynb"))

    monkeypatch.setattr(report, "run_investigation", failing)
    code = cli.main(["investigate", "--events", str(events), "--changes", str(changes), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2  # a schema error is bad input
    assert err.count("\n") == 1 and "SchemaError" in err and "/x/nb.ipynb" in err

    def crashing(parameters: object, **kwargs: object) -> None:
        raise report.NotebookFailed("ZeroDivisionError", "division by zero", None)

    monkeypatch.setattr(report, "run_investigation", crashing)
    assert cli.main(["investigate", "--events", str(events), "--changes", str(changes), "--quiet"]) == 1


# ----------------------------------------------------------------------------------------------
# Report helpers: escaping and redaction in what the notebooks display and write
# ----------------------------------------------------------------------------------------------


def test_show_table_escapes_and_redacts_both_html_and_plain() -> None:
    frame = pd.DataFrame({"input_text": [f"{XSS} mail {EMAIL}"], "n": [3]})
    block = report.show_table(frame)
    for text in (block._repr_html_(), repr(block)):
        assert XSS not in text and EMAIL not in text
        assert "&lt;script&gt;" in text and "[EMAIL]" in text
    kept = report.show_table(frame, redact=False)
    assert EMAIL in kept._repr_html_() and XSS not in kept._repr_html_()


def test_show_table_caps_rows_and_says_so() -> None:
    block = report.show_table(pd.DataFrame({"x": range(30)}), max_rows=5)
    assert block._repr_html_().count("<tr>") == 6  # header + 5 rows
    assert "25 more rows" in block._repr_html_()


def test_show_runbook_ticks_and_escapes() -> None:
    runbook = [
        {"section": "triage", "item": "Confirm the symptom", "checked": True, "evidence": f"{XSS} {EMAIL}"},
        {"section": "scope", "item": "Export affected events", "checked": None, "evidence": ""},
        {"section": "mitigate", "item": "Roll back", "checked": False, "evidence": None},
    ]
    block = report.show_runbook(runbook)
    html_text, plain = block._repr_html_(), repr(block)
    assert html_text.index("Triage") < html_text.index("Scope") < html_text.index("Mitigate")
    assert "\u2611 Confirm the symptom" in html_text and "\u2610 Export affected events" in html_text
    assert "[x] Confirm the symptom" in plain and "[ ] Roll back (no)" in plain
    for text in (html_text, plain):
        assert XSS not in text and EMAIL not in text


def test_write_rejected_redacts_keeps_raw_text_and_defuses_formulas(tmp_path: Path) -> None:
    class Load:
        rejected = pd.DataFrame(
            {"row": pd.array([3, 4], dtype="Int64"), "reason": ["`ts`: not a timestamp", "bad"],
             "raw": [json.dumps({"input_text": f"{XSS} {EMAIL}"}), "=HYPERLINK(\"http://x\")"]}
        )

    class Empty:
        rejected = pd.DataFrame({"row": [], "reason": [], "raw": []})

    written = report.write_rejected(tmp_path, events=Load(), changes=Empty())
    assert list(written) == ["events"]
    text = written["events"].read_text(encoding="utf-8")
    assert EMAIL not in text and "[EMAIL]" in text and "&lt;" not in text  # a CSV holds raw text, no HTML entities
    back = pd.read_csv(written["events"])
    assert XSS in back.loc[0, "raw"]
    assert back.loc[1, "raw"].startswith("'=")
    # OWASP: every text cell starting with = + - @ tab or CR, a number-like one too; numbers are not text
    assert [report.csv_safe(v) for v in ("-0.5", "+1", "@x", "\tx", "\rx", "a=b", 3.5)] == ["'-0.5", "'+1", "'@x", "'\tx", "'\rx", "a=b", 3.5]


def test_render_html_hides_code_and_keeps_outputs_escaped(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    code = nbformat.v4.new_code_cell("secret_code_marker = 1")
    table = report.show_table(pd.DataFrame({"t": [XSS]}))
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": table._repr_html_(), "text/plain": repr(table)}),
        # Outputs the helpers would never produce: raw markup from somewhere else.
        nbformat.v4.new_output("display_data", data={"text/html": XSS, "text/plain": "plain fallback"}),
        nbformat.v4.new_output("display_data", data={"text/html": "<img src=x onerror=alert(2)>", "text/plain": "img"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "[x](javascript:alert(3))", "text/plain": "md"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(4)"}),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), code]
    out = report.render_html(nb, tmp_path / "r.html", title="T")
    text = out.read_text(encoding="utf-8")
    assert "secret_code_marker" not in text
    # The helper's table is kept, as a real table with its header, and its text is escaped.
    assert "<th>t</th>" in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    for needle in (XSS, "onerror=alert(2)", "javascript:alert(3)", "alert(4)"):
        assert needle not in text
    assert "plain fallback" in text
    # The notebook itself is not modified.
    assert code.outputs[1]["data"]["text/html"] == XSS


# ----------------------------------------------------------------------------------------------
# End to end (slow): markup and personal data from the data reach no report raw
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small escalation storm whose prompts, responses, change log and one unreadable row hold
    ``<script>alert(1)</script>`` and ``jane.doe@example.com``."""
    scenarios = pytest.importorskip("analysis.scenarios")
    s = scenarios.generate("escalation", seed=1, scale=0.3)
    root = tmp_path_factory.mktemp("hostile")
    ev = s.events.copy()
    last_day = ev["ts"] >= ev["ts"].max() - pd.Timedelta(days=1)
    hostile = f"{XSS} please email me at {EMAIL} "
    ev["input_text"] = ev["input_text"].astype(object)
    ev["output_text"] = ev["output_text"].astype(object)
    ev.loc[last_day, "input_text"] = hostile + ev.loc[last_day, "input_text"].fillna("").astype(str)
    ev.loc[last_day, "output_text"] = hostile + ev.loc[last_day, "output_text"].fillna("").astype(str)
    events = root / "events.jsonl"
    ev.to_json(events, orient="records", lines=True, date_format="iso", date_unit="ms")
    with events.open("a", encoding="utf-8") as fh:  # one row the loader must reject, raw text kept in the CSV
        fh.write(json.dumps({"event_id": "bad-1", "ts": "not a time", "input_text": hostile}) + "\n")
    ch = s.changes.copy()
    ch["description"] = ch["description"].astype(object).fillna("").astype(str) + f" {XSS} contact {EMAIL}"
    changes = root / "changes.csv"
    ch.to_csv(changes, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    return events, changes


def _report_texts(out_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(out_dir.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_script_and_email_reach_no_report_raw(hostile_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    events, changes = hostile_inputs
    out = run_cli("investigate", "--events", str(events), "--changes", str(changes), "--pattern", "escalation",
                  "--out", str(tmp_path / "r"), "--quiet", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    # The command says where the report is.
    assert str(tmp_path / "r") in out.stdout and "report.html" in out.stdout
    texts = _report_texts(tmp_path / "r")
    for name in ("report.json", "report.md", "report.html", "timeline.csv", "affected_events.csv", "rejected_events.csv",
                 "escalation_storm.ipynb"):
        assert name in texts, sorted(texts)
    for name, text in texts.items():
        if not name.endswith(".csv"):  # a CSV holds the raw text, formulas defused (tests/test_escaping.py)
            assert XSS not in text, name
        assert EMAIL not in text, name
    # The data did reach the reports, escaped and redacted (so the test is not vacuous).
    assert "[EMAIL]" in texts["affected_events.csv"] and XSS in texts["affected_events.csv"]
    assert "[EMAIL]" in texts["rejected_events.csv"]
    assert "[EMAIL]" in texts["report.html"] and "&lt;script&gt;" in texts["report.html"]
    assert "[EMAIL]" in texts["report.json"]
    json.loads(texts["report.json"])


@pytest.mark.slow
def test_no_redact_keeps_personal_data_but_still_escapes(hostile_inputs: tuple[Path, Path], tmp_path: Path) -> None:
    events, changes = hostile_inputs
    out = run_cli("investigate", "--events", str(events), "--changes", str(changes), "--pattern", "escalation",
                  "--out", str(tmp_path / "r"), "--quiet", "--no-redact", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    texts = _report_texts(tmp_path / "r")
    for name, text in texts.items():
        if not name.endswith(".csv"):
            assert XSS not in text, name
    assert EMAIL in texts["affected_events.csv"] and EMAIL in texts["report.html"]


@pytest.mark.slow
def test_timestamps_without_offset_in_the_data_are_a_one_line_input_error(tmp_path: Path) -> None:
    """The loader's SchemaError inside the notebook comes back as exit code 2 with its hint."""
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "e1", "ts": "2026-03-01 12:00:00", "refused": true}\n', encoding="utf-8")
    changes = tmp_path / "changes.csv"
    changes.write_text("change_id,ts,change_type\nc1,2026-03-01T00:00:00Z,deploy\n", encoding="utf-8")
    out = run_cli("investigate", "--events", str(events), "--changes", str(changes), "--out", str(tmp_path / "r"), "--quiet",
                  timeout=120)
    _assert_one_line_error(out, "SchemaError", "--assume-tz", "triage.ipynb")


@pytest.mark.slow
def test_kernel_process_stderr_never_reaches_the_terminal(tmp_path: Path) -> None:
    """What the kernel process writes to its own stderr (libzmq's shut-down assertions seen on CI,
    start-up noise) must not reach the user: the command promises one clear line on bad input.
    Plain papermill lets such a write through (checked by hand); ``run_notebook`` must not."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nos.write(2, b'KERNEL-FD2-NOISE\\n')")])
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    src = tmp_path / "noise.ipynb"
    nbformat.write(nb, src)
    code = (
        "from analysis.report import run_notebook; "
        f"run_notebook({str(src)!r}, {str(tmp_path / 'out.ipynb')!r}, {{}}, progress=False)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "KERNEL-FD2-NOISE" not in out.stderr + out.stdout
