"""``report.html``: the postmortem as a page people read in a minute.

:func:`postmortem_page` writes one self-contained HTML document (inline CSS, figures as PNG data
URIs, no script) for a :class:`~analysis.report.postmortem.Postmortem`:

* the first screen: the headline, the impact (requests affected, share, duration, risk tier), the
  four answers with their confidence (:mod:`analysis.report.answers`) and one timeline figure
  (:func:`analysis.report.plots.plot_overview`);
* then the sections of Google SRE's postmortem template, each with its evidence: Summary, Impact,
  Root cause, Trigger, Detection, Resolution, Action items (from the runbook and ``monitors.yaml``),
  Timeline, and the four questions in detail (the notebooks' section views of
  :mod:`analysis.report.html`);
* an appendix with the set-up: parameters, inputs, derived labels, data quality, the files.

The executed notebook, rendered beside it as ``notebook.html`` by the ``investigate`` command, is the
analyst's record; the page links to it. Text from the data is redacted (unless ``redact=False``)
and HTML-escaped wherever it is written.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.redact import escape_html, safe_text
from analysis.report import html as views
from analysis.report.answers import QUESTIONS, FirstScreen, duration, first_screen, pct, when
from analysis.report.paths import NOTEBOOK_HTML

__all__ = ["postmortem_page", "write_page"]

_CSS = """
:root { --ink:#1a1a1a; --muted:#5f6368; --line:#dadce0; --bg:#f8f9fa; --high:#137333; --medium:#b06000; --low:#c5221f; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; color:var(--ink); }
main { max-width:1240px; margin:0 auto; padding:8px 20px 40px; }
.bar { display:flex; flex-wrap:wrap; gap:4px 14px; align-items:baseline; font-size:12px; color:var(--muted);
       border-bottom:1px solid var(--line); padding:4px 0; }
.bar a { color:var(--muted); }
h1#headline { font-size:19px; line-height:1.3; margin:8px 0 8px; font-weight:600; }
#impact { display:grid; grid-template-columns:repeat(4,1fr); gap:8px; margin:0 0 8px; }
#impact div { background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:4px 10px; }
#impact b { display:block; font-size:17px; }
#impact span { font-size:11.5px; color:var(--muted); }
#answers { display:grid; grid-template-columns:1fr 1fr; gap:6px 10px; margin:0 0 6px; padding:0; list-style:none; }
#answers li { border-left:4px solid var(--line); padding:2px 8px; font-size:13px; line-height:1.35; }
#answers li.high { border-color:var(--high); } #answers li.medium { border-color:var(--medium); }
#answers li.low { border-color:var(--low); }
#answers .q { font-weight:600; font-size:12px; color:var(--muted); }
.conf { font-size:11px; font-weight:600; white-space:nowrap; }
.conf.high { color:var(--high); } .conf.medium { color:var(--medium); } .conf.low { color:var(--low); }
figure { margin:0; } figure img { width:100%; height:auto; display:block; }
figcaption { font-size:11.5px; color:var(--muted); }
section { border-top:1px solid var(--line); margin-top:22px; padding-top:4px; }
h2 { font-size:18px; margin:10px 0 6px; } h3 { font-size:15px; margin:14px 0 4px; }
table { border-collapse:collapse; font-size:12.5px; margin:6px 0; }
th, td { border-bottom:1px solid var(--line); padding:3px 8px; text-align:left; vertical-align:top; }
th { background:var(--bg); }
ul.evidence li { margin:2px 0; }
.muted { color:var(--muted); }
"""


def _t(text: Any, redact: bool, max_len: int | None = 600) -> str:
    """Text from the data for HTML: redacted (unless ``redact=False``), shortened, escaped."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    return escape_html(safe_text(str(text), redact=redact, max_len=max_len))


def _figure(fig: Any, alt: str, caption: str, fig_id: str) -> str:
    """A matplotlib figure as an inline PNG (text in a figure is drawn, never markup)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f"<figure id='{fig_id}'><img src='data:image/png;base64,{data}' alt='{escape_html(alt)}'>"
            f"<figcaption>{caption}</figcaption></figure>")


def _rows(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table of already-escaped label and value cells."""
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _section(sid: str, title: str, *parts: str) -> str:
    return f"<section id='{sid}'><h2>{escape_html(title)}</h2>{''.join(p for p in parts if p)}</section>"


# ----------------------------------------------------------------------------------------------
# The first screen
# ----------------------------------------------------------------------------------------------


def _bar(pm: Any, redact: bool) -> str:
    links = [("#summary", "Summary"), ("#impact-detail", "Impact"), ("#root-cause", "Root cause"), ("#trigger", "Trigger"),
             ("#detection", "Detection"), ("#resolution", "Resolution"), ("#action-items", "Action items"),
             ("#timeline", "Timeline"), ("#questions", "The four questions"), ("#appendix", "Appendix"),
             (NOTEBOOK_HTML, "Analyst's notebook")]
    nav = " ".join(f"<a href='{href}'>{label}</a>" for href, label in links)
    generated = when(pm.generated_at)
    return (f"<div class='bar'><span><b>{_t(pm.title, redact, 300)}</b></span>"
            f"<span>pattern {_t(pm.pattern, redact, 40)}; generated {generated}</span><nav>{nav}</nav></div>")


def _impact_cards(fs: FirstScreen) -> str:
    imp = fs.impact
    if imp.affected is None:
        cards = [("-", "requests affected"), ("-", "share of the failure window"), ("-", "duration"), ("-", "risk tier")]
    else:
        dur = duration(imp.duration_hours) + (" so far" if imp.ongoing else "")
        cards = [(f"{imp.affected:,}", "requests affected"), (pct(imp.share), "of the failure window's requests"),
                 (dur, "onset to " + ("report (not mitigated)" if imp.ongoing else "mitigation")),
                 (f"{imp.tier or '-'}", f"risk tier (tolerance {pct(imp.tolerance)})")]
    return "<div id='impact'>" + "".join(f"<div><b>{escape_html(v)}</b><span>{escape_html(k)}</span></div>" for v, k in cards) + "</div>"


def _answers(fs: FirstScreen, redact: bool) -> str:
    items = []
    for a in fs.answers:
        items.append(
            f"<li class='{a.confidence.replace('/', '')}' data-question='{a.key}'><span class='q'>{escape_html(a.question)}</span> "
            f"{_t(a.sentence, redact)} <span class='conf {a.confidence.replace('/', '')}' title='{_t(a.basis, redact)}'>"
            f"confidence: {escape_html(a.confidence)}</span></li>")
    return "<ol id='answers'>" + "".join(items) + "</ol>"


def _first_screen(pm: Any, fs: FirstScreen, redact: bool) -> str:
    from analysis.report import plots  # matplotlib, only when a page is written

    caption = ("The metric where the onset was found, each point pooling neighbouring windows so it rests on about "
               f"{plots.MIN_REQUESTS} requests (band: 95% interval; dots: each window), the onset interval, the change "
               "log (the most likely cause labelled), the first alarm of each usable monitor, and the report; "
               "requests per window underneath.")
    fig = _figure(plots.plot_overview(pm), "Timeline: the metric, the onset, the changes, the alarms and the report", caption,
                  "timeline-figure")
    return (f"<header id='first-screen'>{_bar(pm, redact)}<h1 id='headline'>{_t(fs.headline, redact)}</h1>"
            f"{_impact_cards(fs)}{_answers(fs, redact)}{fig}</header>")


# ----------------------------------------------------------------------------------------------
# The SRE sections
# ----------------------------------------------------------------------------------------------


def _summary(pm: Any, fs: FirstScreen, redact: bool) -> str:
    items = "".join(f"<li><b>{escape_html(a.question)}</b> {_t(a.sentence, redact)} <span class='muted'>Confidence "
                    f"{escape_html(a.confidence)}: {_t(a.basis, redact)}.</span></li>" for a in fs.answers)
    d = pm.durations
    durs = "" if d is None else (
        f"<p>Time to detect (onset to report) {duration(d.time_to_detect_hours)}; detection gap (earliest possible alarm "
        f"to report) {duration(d.detection_gap_hours)}; time to mitigate {duration(d.time_to_mitigate_hours) if d.mitigated_at is not None else 'not recorded (no mitigation time given)'}.</p>")
    return _section("summary", "Summary", f"<p>{_t(fs.headline, redact)}</p><ul>{items}</ul>", durs)


def _impact(pm: Any, fs: FirstScreen, redact: bool) -> str:
    from analysis.report import plots

    imp, q3 = fs.impact, pm.q3
    if imp.affected is None or q3 is None:
        return _section("impact-detail", "Impact", "<p>No incident: no requests affected.</p>")
    rows = [("Requests affected", f"{imp.affected:,} (all in affected_events.csv)"), ("Share", f"{pct(imp.share)} of the requests "
             f"in the failure window ({when(q3.period[0])} .. {when(q3.period[1])})"),
            ("Duration", duration(imp.duration_hours) + (" so far: not mitigated at the report" if imp.ongoing else "")),
            ("Risk tier", f"{escape_html(imp.tier or '-')} (tolerance {pct(imp.tolerance)} above the baseline)"),
            ("Failure", _t(q3.failure_definition, redact))]
    seg = q3.segments
    flagged = seg[seg["status"].isin(["systematic", "elevated"])] if seg is not None and "status" in seg.columns else None
    table = ""
    if flagged is not None and len(flagged):
        t = pd.DataFrame({"segment": [("all traffic" if c == "__all__" else f"{c}={s}") for c, s in zip(flagged["segment_column"], flagged["segment"])],
                          "tier": flagged["tier"], "failing before": flagged["baseline_rate"].map(pct),
                          "failing now": flagged["current_rate"].map(pct), "requests now": flagged["n_current"].map(lambda v: f"{int(v):,}"),
                          "excess failures": flagged["excess_events"].map(lambda v: f"{max(float(v), 0):,.0f}"), "status": flagged["status"]})
        table = "<h3>Segments beyond their tolerance</h3>" + views.show_table(t, redact=redact, max_rows=12)._repr_html_()
    fig = _figure(plots.plot_segments(pm, max_panels=6), "The metric in the segments that matter",
                  "The segments with a significant difference, largest effect first, then all traffic, on a shared scale.", "segments-figure")
    return _section("impact-detail", "Impact", _rows([(escape_html(k), v if k in ("Risk tier", "Failure") else escape_html(v))
                                                      for k, v in rows]), table, fig)


def _bullets(text: Any, redact: bool) -> str:
    """Evidence joined by '; ' as one bullet per clause, never cut."""
    parts = [p.strip() for p in str(text or "").split("; ") if p.strip()]
    return "<ul class='evidence'>" + "".join(f"<li>{_t(p, redact, None)}</li>" for p in parts) + "</ul>" if parts else ""


def _root_cause(pm: Any, fs: FirstScreen, redact: bool) -> str:
    q2 = pm.q2
    top = None if q2 is None or q2.candidates is None or len(q2.candidates) == 0 else q2.candidates.iloc[0].to_dict()
    if top is None or (pm.onset or {}).get("ts") is None:
        return _section("root-cause", "Root cause", f"<p>{_t(fs.answers[1].sentence, redact)}</p>")
    sep = getattr(q2, "separation", None)
    sep_text = "" if sep is None else f"<p><b>{'Margin' if sep.separable else 'Not separable'}:</b> {_t(sep.text, redact)}.</p>"
    ms = getattr(pm.q3, "mix_shift", None)
    mix = f"<p><b>Traffic mix shift:</b> {_t(ms.get('text'), redact)}.</p>" if isinstance(ms, Mapping) and ms.get("text") else ""
    notes = "".join(f"<li>{_t(n, redact)}</li>" for n in pm.notes)
    return _section("root-cause", "Root cause",
                    f"<p>{_t(fs.answers[1].sentence, redact)} The evidence that ties it to the failure:</p>",
                    _bullets(top.get("evidence"), redact), sep_text, mix,
                    f"<p>Notes from the investigation:</p><ul>{notes}</ul>" if notes else "",
                    views.show_error_confidence(pm, redact=redact)._repr_html_())


def _trigger(pm: Any, fs: FirstScreen, redact: bool) -> str:
    q2, on = pm.q2, pm.onset or {}
    top = None if q2 is None or q2.candidates is None or len(q2.candidates) == 0 else q2.candidates.iloc[0].to_dict()
    if top is None or on.get("ts") is None:
        return _section("trigger", "Trigger", "<p>No trigger: no onset was found.</p>")
    lead = top.get("lead_hours")
    rows = [("Change", _t(top.get("change_id"), redact)), ("Type", _t(top.get("change_type"), redact)),
            ("When", escape_html(when(top.get("ts"))) + (f" ({escape_html(duration(lead))} before the onset)" if lead == lead and lead is not None and lead >= 0 else "")),
            ("What changed", _t(f"{top.get('attribute')}: {_value(top.get('from_value'))} -> {_value(top.get('to_value'))}", redact)
             if isinstance(top.get("attribute"), str) else "-"),
            ("Description", _t(top.get("description"), redact) or "-"),
            ("Source", "inferred from the logs (no change-log entry)" if top.get("inferred") else "the change log"),
            ("Onset", f"{escape_html(when(on.get('ts')))} in {_t(on.get('segment_label'), redact)}" +
             (f", interval {escape_html(when(on['interval'][0]))} .. {escape_html(when(on['interval'][1]))}" if on.get("interval") else "")
             + f" ({_t(on.get('method'), redact)})")]
    return _section("trigger", "Trigger", _rows(rows))


def _value(v: Any) -> str:
    """A version value, '?' where the log has none."""
    return "?" if v is None or v == "" or (isinstance(v, float) and v != v) else str(v)


def _detection(pm: Any, fs: FirstScreen, redact: bool) -> str:
    from analysis.report import plots

    q4 = pm.q4
    if q4 is None:
        return _section("detection", "Detection", "<p>No monitors were replayed.</p>")
    head = (f"<p>{_t(fs.answers[3].sentence, redact)} The incident was reported at {escape_html(when(q4.reported_at))}. "
            "Each monitor below was replayed over the history: its first alarm after the incident started, the lead "
            "time it would have bought, and its false alarms in the baseline.</p>")
    fig = _figure(plots.plot_detection_gap(pm), "First alarm of each replayed monitor", "Bars: the lead time each monitor "
                  "would have bought before the report; hollow grey: too many false alarms to keep.", "detection-figure")
    return _section("detection", "Detection", head, fig)


def _resolution(pm: Any, redact: bool) -> str:
    d = pm.durations
    if d is not None and d.mitigated_at is not None:
        head = (f"<p>Mitigated at {escape_html(when(d.mitigated_at))}, {escape_html(duration(d.time_to_mitigate_hours))} "
                "after the report.</p>")
    else:
        head = ("<p>Not mitigated as of the report: no mitigation time was given (the <code>mitigated_at</code> "
                "parameter). The mitigation steps, ticked where the data answers them:</p>")
    items = [r for r in pm.runbook if r.get("section") == "mitigate"]
    return _section("resolution", "Resolution", head, views.show_runbook(items, redact=redact)._repr_html_() if items else "")


def _action_items(pm: Any, redact: bool) -> str:
    rows = []
    for r in pm.runbook:
        if r.get("section") in ("mitigate", "post_incident") and r.get("checked") is not True:
            rows.append({"action": r.get("item"), "kind": "mitigate" if r["section"] == "mitigate" else "prevent",
                         "from": "runbook", "evidence": r.get("evidence") or ""})
    for m in (pm.monitors or {}).get("monitors", []):
        hist, far = m.get("history") or {}, m.get("false_alarm_rate") or {}
        lead = hist.get("lead_time_hours")
        rows.append({"action": f"Deploy monitor {m.get('name')}: {m.get('description')}", "kind": "detect", "from": "monitors.yaml",
                     "evidence": f"{m.get('chart')} on {m.get('window')} windows, designed for {far.get('designed_per_30_days')} "
                                 f"false alarm(s) per 30 days; on this history: {hist.get('false_alarms_baseline')} false alarm(s) in "
                                 f"the baseline, first alarm {when(hist.get('first_alarm'))}"
                                 + (f", {duration(lead)} before the report" if lead is not None else "")})
    if not rows:
        return _section("action-items", "Action items", "<p>None.</p>")
    frame = pd.DataFrame(rows, columns=["action", "kind", "from", "evidence"])
    return _section("action-items", "Action items", "<p>From the runbook (items the data could not tick) and the monitors "
                    "designed for this incident (<a href='monitors.yaml'>monitors.yaml</a>; run them with "
                    "<code>python -m analysis monitor</code>).</p>",
                    views.show_table(frame, redact=redact, max_rows=40, max_len=400)._repr_html_())


def _timeline(pm: Any, redact: bool) -> str:
    tl = pm.timeline
    if tl is None or len(tl) == 0:
        return _section("timeline", "Timeline", "<p>(empty)</p>")
    frame = pd.DataFrame({"time (UTC)": [when(t) for t in tl["ts"]],
                          "from the onset": [("" if h != h else ("+" if h >= 0 else "") + duration(h)) for h in tl["t_rel_hours"]],
                          "kind": tl["kind"].astype(str).str.replace("_", " "), "what": tl["source"], "description": tl["description"]})
    return _section("timeline", "Timeline", views.show_table(frame, redact=redact, max_rows=80, max_len=300)._repr_html_())


def _questions(pm: Any, redact: bool) -> str:
    blocks = [("output", [views.show_findings(pm, redact=redact)]),
              ("cause", [views.show_candidates(pm, redact=redact), views.show_drift(pm, redact=redact)]),
              ("scope", [views.show_scope(pm, redact=redact)]),
              ("gap", [views.show_monitors(pm, redact=redact)])]
    parts = [f"<h3>{i}. {escape_html(QUESTIONS[k])}</h3>" + "".join(b._repr_html_() for b in bs)
             for i, (k, bs) in enumerate(blocks, start=1)]
    return _section("questions", "The four questions in detail", *parts)


# ----------------------------------------------------------------------------------------------
# Appendix and the document
# ----------------------------------------------------------------------------------------------

_FILES = (("report.md", "the postmortem draft for a ticket"), ("report.json", "the machine-readable contract"),
          ("timeline.csv", "the timeline"), ("affected_events.csv", "every affected request"),
          ("monitors.yaml", "the monitors to deploy"), ("regression_cases.csv", "the affected requests as an evaluation set"),
          (NOTEBOOK_HTML, "the executed notebook: every table and figure of the investigation"))


def _param_value(v: Any) -> str:
    if isinstance(v, Mapping) and set(v) == {"start", "end"}:
        return f"{when(v['start'])} .. {when(v['end'])}"
    if isinstance(v, list) and v and isinstance(v[0], Mapping) and "column" in v[0]:
        return ", ".join(str(c["column"]) for c in v if c.get("scanned"))
    if isinstance(v, Mapping):
        return ", ".join(f"{k} {pct(x) if isinstance(x, float) else x}" for k, x in v.items())
    if isinstance(v, pd.Timestamp):
        return when(v)
    return "-" if v is None else str(v)


def _appendix(pm: Any, redact: bool) -> str:
    params = [(escape_html(k), _t(_param_value(v), redact)) for k, v in (pm.parameters or {}).items()]
    inputs = pd.DataFrame([{"input": name, "file": Path(str(i.get("path", ""))).name, "format": i.get("format"),
                            "rows read": f"{int(i.get('rows_read', 0)):,}", "rows loaded": f"{int(i.get('rows_loaded', 0)):,}",
                            "rows rejected": f"{int(i.get('rows_rejected', 0)):,}", "sha256": str(i.get("sha256") or "")[:16]}
                           for name, i in (pm.inputs or {}).items()])
    derived = "".join(f"<li><code>{_t(col, redact)}</code>: {_t(rule, redact)}</li>" for col, rule in (pm.label_rules or {}).items())
    facts = "".join(f"<li>{escape_html(when(f.start))} .. {escape_html(when(f.end))}: {_t(f.description, redact)}. "
                    f"Effect: {_t(f.effect, redact)}.</li>" for f in pm.data_quality)
    files = "".join(f"<li><a href='{name}'>{name}</a>: {what}</li>" for name, what in _FILES)
    return _section(
        "appendix", "Appendix: set-up and parameters",
        "<h3>Files</h3><ul>" + files + "</ul>",
        "<h3>Parameters</h3>" + _rows(params),
        "<h3>Inputs</h3>" + views.show_table(inputs, redact=redact, max_len=None)._repr_html_(),
        f"<h3>Derived labels</h3><p>Derived from the text by a documented rule, not logged:</p><ul>{derived}</ul>" if derived else "",
        f"<h3>Data quality</h3><ul>{facts}</ul>" if facts else "",
        f"<p class='muted'>Generated {escape_html(when(pm.generated_at))} by the AI incident forensics kit.</p>",
    )


def postmortem_page(pm: Any, *, redact: bool = True) -> str:
    """``report.html``'s text for a postmortem: the first screen, the SRE sections, the appendix.

    Text from the data is redacted (unless ``redact=False``) and escaped; the page holds no script.
    """
    fs = first_screen(pm)
    body = "".join([
        _first_screen(pm, fs, redact),
        _summary(pm, fs, redact), _impact(pm, fs, redact), _root_cause(pm, fs, redact), _trigger(pm, fs, redact),
        _detection(pm, fs, redact), _resolution(pm, redact), _action_items(pm, redact), _timeline(pm, redact),
        _questions(pm, redact), _appendix(pm, redact),
    ])
    title = _t(pm.title, redact, 300)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><link rel='icon' href='data:,'><title>{title}</title>"
            f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>\n")


def write_page(pm: Any, path: str | Path, *, redact: bool = True) -> Path:
    """Write :func:`postmortem_page` to ``path`` (UTF-8); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(postmortem_page(pm, redact=redact), encoding="utf-8")
    return out
