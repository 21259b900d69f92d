"""The notebook templates: structure, parameters, validation, and real papermill runs.

Fast tests read the committed notebooks (stripped, thin, parameters documented for
``papermill --help-notebook``) and exercise :func:`analysis.report.validate_parameters`.

Slow tests execute each notebook with papermill on ``sample_data/`` (one run per notebook and data
set, shared by a module-scoped fixture) and check ``report.json`` against the case's
``truth.json`` written by the generator -- values not computed by the code under test: the true
cause ranks first, the onset falls inside the truth's ``onset_window``, the verdict is
``systematic``; on the ``<case>_baseline`` twins (same changes, no effect) it is ``no_incident``.
nbval (``--nbval-lax``: every cell must run, outputs are not compared) runs over every notebook.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import papermill
import pytest

from analysis import report
from analysis.report import NOTEBOOK_PARAMETERS, ParameterError, validate_parameters

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SAMPLE = REPO / "sample_data"
ALL_NOTEBOOKS = sorted(NOTEBOOKS.glob("*.ipynb"))
EXPECTED = {"retrieval_degradation.ipynb", "refusal_regression.ipynb", "escalation_storm.ipynb", "triage.ipynb"}

needs_sample_data = pytest.mark.skipif(
    not all((SAMPLE / c / "truth.json").is_file() for c in report.CASES),
    reason="sample_data/ not generated (python -m analysis generate)",
)


def _code_cells(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


# ----------------------------------------------------------------------------------------------
# Structure of the committed notebooks
# ----------------------------------------------------------------------------------------------


def test_the_four_notebooks_exist() -> None:
    assert {p.name for p in ALL_NOTEBOOKS} == EXPECTED
    assert set(report.PATTERN_NOTEBOOKS.values()) == EXPECTED


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in _code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_then_validation_cell(path: Path) -> None:
    code = _code_cells(nbformat.read(path, as_version=4))
    assert "parameters" in code[0].metadata.get("tags", [])
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    assert "validate_parameters(globals(), params.NOTEBOOK_PARAMETERS)" in code[1].source
    # The validation cell runs before anything else is imported or computed.
    assert "import analysis.report as report" in code[1].source and "load_" not in code[1].source


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_thin(path: Path) -> None:
    """No def, no lambda, no class, imports from `analysis` only, and `investigate` then `write`."""
    nb = nbformat.read(path, as_version=4)
    sources = [c.source for c in _code_cells(nb)]
    for src in sources:
        tree = ast.parse("\n".join(line for line in src.splitlines() if not line.startswith("%")))
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)), src
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] == "analysis" for a in node.names), src
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] == "analysis", src
    joined = "\n".join(sources)
    assert joined.index("analysis.investigate(") < joined.index("pm.write(p.out_dir, redact=p.redact)")
    for section in ("## 1.", "## 2.", "## 3.", "## 4.", "## Timeline", "## Runbook"):
        assert any(section in c.source for c in nb.cells if c.cell_type == "markdown"), section


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_help_notebook_documents_every_parameter(path: Path) -> None:
    """What ``papermill --help-notebook`` prints: every parameter with its plain type and help."""
    params = papermill.inspect_notebook(str(path))
    assert list(params) == list(NOTEBOOK_PARAMETERS)
    for name, info in params.items():
        assert info["inferred_type_name"] == NOTEBOOK_PARAMETERS[name].type.__name__, name
        assert info["help"] == NOTEBOOK_PARAMETERS[name].help, name


def test_help_notebook_cli() -> None:
    path = NOTEBOOKS / "triage.ipynb"
    out = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    for name in NOTEBOOK_PARAMETERS:
        assert f"{name}: " in out.stdout


@needs_sample_data
@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_defaults_are_valid_and_point_at_sample_data(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = papermill.inspect_notebook(str(path))
    defaults = {k: ast.literal_eval(v["default"]) for k, v in params.items()}
    monkeypatch.chdir(NOTEBOOKS)  # as in JupyterLab: the defaults resolve from the repo root
    p = validate_parameters(defaults)
    assert p.events_path.is_relative_to(SAMPLE) and p.changes_path.is_relative_to(SAMPLE)
    assert p.out_dir.is_relative_to(REPO / "reports")
    # the retrieval case replays its logged weekly evaluation; the others simulate one
    if path.stem == "retrieval_degradation":
        assert p.evaluations_path == SAMPLE / "retrieval_degradation" / "evaluations.csv"
    else:
        assert p.evaluations_path is None
    expected_pattern = {v: k for k, v in report.PATTERN_NOTEBOOKS.items()}[path.name]
    assert p.pattern == expected_pattern


# ----------------------------------------------------------------------------------------------
# validate_parameters
# ----------------------------------------------------------------------------------------------


def _good(**overrides: Any) -> dict[str, Any]:
    return report.default_parameters(**{"events_path": __file__, "changes_path": __file__, "out_dir": "reports/x", **overrides})


def test_defaults_normalise_empty_strings_to_none() -> None:
    p = validate_parameters(_good())
    assert p.reported_at is None and p.metric is None and p.segment_by is None and p.window is None
    assert p.assume_tz is None and p.mapping_path is None and p.evaluations_path is None
    assert p.events_path == Path(__file__).resolve()
    assert p.raw["out_dir"] == "reports/x" and p.out_dir.is_absolute()


def test_values_are_normalised() -> None:
    p = validate_parameters(_good(reported_at="2026-03-01T12:00:00+01:00", segment_by=" risk_category , framing,risk_category",
                                  window="30min", metric="refused", assume_tz="UTC", seed=3))
    assert p.reported_at == pd.Timestamp("2026-03-01T11:00:00Z")  # +01:00 -> UTC by hand
    assert p.segment_by == ("risk_category", "framing")
    # the window is typed once, here: downstream gets a Timedelta and never parses it again
    assert (p.window, p.metric, p.assume_tz, p.seed) == (pd.Timedelta("30min"), "refused", "UTC", 3)
    assert p.raw["window"] == "30min"


def test_unknown_names_are_listed_with_a_suggestion() -> None:
    with pytest.raises(ParameterError) as exc:
        validate_parameters(_good(redakt=False, foo=1))
    msg = str(exc.value)
    assert "unknown parameter `redakt` (did you mean `redact`?)" in msg
    assert "unknown parameter `foo`" in msg
    assert "Known parameters: events_path" in msg


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("seed", "1", "`seed` must be int, got str '1'"),
        ("seed", True, "`seed` must be int, got bool True"),  # bool is an int in Python; not here
        ("seed", 1.5, "`seed` must be int, got float 1.5"),
        ("redact", "false", "`redact` must be bool, got str 'false'"),
        ("redact", 0, "`redact` must be bool, got int 0"),
        ("window", 3600, "`window` must be str, got int 3600"),
        ("segment_by", ["risk_category"], "`segment_by` must be str, got list"),
    ],
)
def test_ill_typed_values_are_rejected(name: str, value: Any, expected: str) -> None:
    with pytest.raises(ParameterError, match=None) as exc:
        validate_parameters(_good(**{name: value}))
    assert expected in str(exc.value)


def test_missing_parameters_are_named() -> None:
    params = _good()
    del params["seed"]
    with pytest.raises(ParameterError, match=r"missing parameter `seed` \(int\)"):
        validate_parameters(params)


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("pattern", "storm", "`pattern` must be one of auto, retrieval, refusal, escalation, got 'storm'"),
        ("reported_at", "last tuesday", "`reported_at` must be an ISO 8601 timestamp"),
        ("reported_at", "2026-03-01 12:00", "has no UTC offset"),
        ("window", "0h", "`window` must be a positive duration"),
        ("window", "soon", "`window` must be a positive duration"),
        ("assume_tz", "Mars/Olympus", "`assume_tz` must be an IANA time zone"),
        ("segment_by", "risk category", "`segment_by` must be comma-separated column names"),
        ("segment_by", "a,,b", "`segment_by` must be comma-separated column names"),
        ("metric", "refused; drop", "`metric` must be a column name"),
        ("events_path", "no/such/file.parquet", "`events_path`: file not found: 'no/such/file.parquet'"),
        ("events_path", "", "`events_path` is required"),
        ("mapping_path", "no/such.yaml", "`mapping_path`: file not found"),
        ("evaluations_path", "no/such/evaluations.csv", "`evaluations_path`: file not found"),
        ("out_dir", " ", "`out_dir` must name a directory"),
        ("seed", -1, "`seed` must be a non-negative integer"),
    ],
)
def test_bad_values_are_rejected_with_the_parameter_named(name: str, value: Any, needle: str) -> None:
    with pytest.raises(ParameterError) as exc:
        validate_parameters(_good(**{name: value}))
    assert needle in str(exc.value)


def test_relative_input_paths_resolve_from_cwd_then_repo_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = tmp_path / "tests" / "test_notebooks.py"
    here.parent.mkdir()
    here.write_text("x", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    # found in the working directory first
    assert validate_parameters(_good(events_path="tests/test_notebooks.py")).events_path == here.resolve()
    monkeypatch.chdir(tmp_path / "tests")
    # not in the working directory: found from the repository root
    assert validate_parameters(_good(events_path="tests/test_notebooks.py")).events_path == Path(__file__).resolve()


def test_notebook_namespace_uses_papermills_injected_cell() -> None:
    """In a kernel, the injected names come from the ``# Parameters`` cell in ``In``; the notebook's
    own later variables (a re-run in JupyterLab) and IPython's names are not parameters."""
    ns = _good()
    ns.update(
        In=["", "events_path: str = 'x'", "# Parameters\nseed = 2\nbogus = 'x'\n", "..."],
        Out={}, _i1="", _oh={}, get_ipython=print, exit=None, quit=None, __name__="__main__",
        report=report, pm=object(), written={"report.json": "x"}, seed=2, bogus="x",
    )
    with pytest.raises(ParameterError) as exc:
        validate_parameters(ns)
    assert "unknown parameter `bogus`" in str(exc.value)
    assert "written" not in str(exc.value) and "`pm`" not in str(exc.value)
    ns["In"] = ["", "events_path: str = 'x'", "# Parameters\nseed = 2\n"]
    assert validate_parameters(ns).seed == 2
    ns["In"] = ["", "events_path: str = 'x'"]  # nothing injected: JupyterLab
    assert validate_parameters(ns).seed == 2


def test_parameters_object_is_read_only() -> None:
    p = validate_parameters(_good())
    with pytest.raises(AttributeError):
        p.seed = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        _ = p.nope
    assert "events_path" in p._repr_html_()


# ----------------------------------------------------------------------------------------------
# Real runs (slow): papermill on the sample data, report.json against truth.json
# ----------------------------------------------------------------------------------------------

RUNS = [
    ("retrieval_degradation", "retrieval_degradation"),
    ("refusal_regression", "refusal_regression"),
    ("escalation_storm", "escalation_storm"),
    ("retrieval_degradation", "retrieval_degradation_baseline"),
    ("refusal_regression", "refusal_regression_baseline"),
    ("escalation_storm", "escalation_storm_baseline"),
    ("triage", "refusal_regression"),
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    """One papermill run per (notebook, data set), through the command's own code path."""
    if not all((SAMPLE / d / "truth.json").is_file() for _, d in RUNS):
        pytest.skip("sample_data/ not generated")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    root = tmp_path_factory.mktemp("notebook_runs")
    for nb, data in RUNS:
        target = root / f"{nb}__{data}"
        evaluations = SAMPLE / data / "evaluations.csv"
        run = report.run_investigation(
            _good(
                events_path=str(SAMPLE / data / "events.parquet"),
                changes_path=str(SAMPLE / data / "changes.csv"),
                evaluations_path=str(evaluations) if nb == "retrieval_degradation" and evaluations.is_file() else "",
                pattern={v: k for k, v in report.PATTERN_NOTEBOOKS.items()}[f"{nb}.ipynb"],
                out_dir=str(target),
            ),
            progress=False,
        )
        out[(nb, data)] = {
            "report": json.loads((target / "report.json").read_text(encoding="utf-8")),
            "truth": json.loads((SAMPLE / data / "truth.json").read_text(encoding="utf-8")),
            "run": run,
        }
    return out


CASE_RUNS = [r for r in RUNS if not r[1].endswith("_baseline")]
TWIN_RUNS = [r for r in RUNS if r[1].endswith("_baseline")]


@pytest.mark.slow
@pytest.mark.parametrize("key", CASE_RUNS, ids=lambda k: f"{k[0]}-{k[1]}")
def test_true_cause_ranks_first(executed: dict, key: tuple[str, str]) -> None:
    r, truth = executed[key]["report"], executed[key]["truth"]
    candidates = r["q2_what_changed"]["candidates"]
    assert candidates, "no candidates"
    assert candidates[0]["change_id"] == truth["cause_change_id"], [c["change_id"] for c in candidates[:4]]


@pytest.mark.slow
@pytest.mark.parametrize("key", CASE_RUNS, ids=lambda k: f"{k[0]}-{k[1]}")
def test_onset_inside_the_truth_window(executed: dict, key: tuple[str, str]) -> None:
    r, truth = executed[key]["report"], executed[key]["truth"]
    assert r["onset"]["ts"] is not None
    onset = pd.Timestamp(r["onset"]["ts"])
    lo, hi = (pd.Timestamp(t) for t in truth["onset_window"])
    assert lo <= onset <= hi, (str(onset), truth["onset_window"])


@pytest.mark.slow
@pytest.mark.parametrize("key", CASE_RUNS, ids=lambda k: f"{k[0]}-{k[1]}")
def test_verdict_systematic(executed: dict, key: tuple[str, str]) -> None:
    assert executed[key]["report"]["q3_scope"]["verdict"] == "systematic"


@pytest.mark.slow
@pytest.mark.parametrize("key", TWIN_RUNS, ids=lambda k: k[1])
def test_no_incident_on_the_twins(executed: dict, key: tuple[str, str]) -> None:
    r = executed[key]["report"]
    assert executed[key]["truth"]["incident"] is False
    assert r["q3_scope"]["verdict"] == "no_incident"


@pytest.mark.slow
@pytest.mark.parametrize("key", RUNS[:3], ids=lambda k: k[0])
def test_report_files_and_contract_keys(executed: dict, key: tuple[str, str]) -> None:
    run: report.InvestigationRun = executed[key]["run"]
    for name in ("report.json", "report.md", "report.html", "notebook.html", "timeline.csv", f"{key[0]}.ipynb"):
        assert name in run.files, sorted(run.files)
    r = executed[key]["report"]
    assert r["schema_version"] == 1
    for k in ("title", "generated_at", "kit_version", "parameters", "inputs", "onset", "q1_output", "q2_what_changed",
              "q3_scope", "q4_detection_gap", "timeline"):
        assert k in r, k
    assert r["inputs"]["events"]["rows_loaded"] > 0 and len(r["inputs"]["events"]["sha256"]) == 64
    html_text = run.html.read_text(encoding="utf-8")
    assert "validate_parameters" not in html_text  # inputs hidden
    assert "data:image/png;base64" in html_text  # the plots survive sanitising
    assert "id='answers'" in html_text  # report.html is the postmortem page, not the notebook
    notebook_html = (run.out_dir / "notebook.html").read_text(encoding="utf-8")
    assert "validate_parameters" not in notebook_html and "data:image/png;base64" in notebook_html
    executed_nb = nbformat.read(run.notebook, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed_nb.cells)


@pytest.mark.slow
def test_retrieval_run_replays_the_logged_evaluation(executed: dict) -> None:
    """weekly_evaluation is the evaluations.csv history, not a simulated sample: its first alarm
    is the first run the file marks as failed (read here with pandas, not the kit's loader)."""
    path = SAMPLE / "retrieval_degradation" / "evaluations.csv"
    r = executed[("retrieval_degradation", "retrieval_degradation")]["report"]
    (mon,) = [m for m in r["q4_detection_gap"]["monitors"] if m["name"] == "weekly_evaluation"]
    raw = pd.read_csv(path)
    assert mon["description"].startswith("the logged offline evaluation")
    assert f"({raw['suite'].iat[0]}, {len(raw)} runs)" in mon["description"]
    first_failed = pd.to_datetime(raw.loc[~raw["passed"].astype(bool), "ts"], utc=True).min()
    assert pd.Timestamp(mon["first_alarm"]) == first_failed
    assert mon["alarms_total"] == int((~raw["passed"].astype(bool)).sum())
    assert r["inputs"]["evaluations"]["rows_loaded"] == len(raw)
    assert r["inputs"]["evaluations"]["path"] == str(path)
    # the other notebooks were given no history: their weekly evaluation is simulated
    other = executed[("refusal_regression", "refusal_regression")]["report"]
    assert "evaluations" not in other["inputs"]
    (sim,) = [m for m in other["q4_detection_gap"]["monitors"] if m["name"] == "weekly_evaluation"]
    assert not sim["description"].startswith("the logged offline evaluation")


@pytest.mark.slow
def test_bad_parameters_fail_fast_in_the_notebook(tmp_path: Path) -> None:
    """papermill would inject these silently; the validation cell stops the run at once."""
    with pytest.raises(report.NotebookFailed) as exc:
        report.run_notebook(NOTEBOOKS / "triage.ipynb", tmp_path / "out.ipynb",
                            {"sed": 1, "redact": "no", "window": "-1h"}, progress=False)
    assert exc.value.ename == "ParameterError"
    assert "unknown parameter `sed` (did you mean `seed`?)" in exc.value.evalue
    assert "`redact` must be bool, got str 'no'" in exc.value.evalue
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # Nothing after the validation cell ran.
    validation = next(i for i, c in enumerate(code) if "validate_parameters" in c.source)
    assert all(c.execution_count is None for c in code[validation + 1:])


@pytest.mark.slow
@needs_sample_data
def test_nbval_lax_over_every_notebook(tmp_path: Path) -> None:
    """Every cell of every notebook runs on the sample data with its default parameters."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", str(NOTEBOOKS),
         "-o", "addopts=", "-W", "ignore::DeprecationWarning"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
