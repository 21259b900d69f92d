"""Failure signatures (``analysis.text.signatures``).

References: Monroe, Colaresi & Quinn's (2008) formulas worked by hand with ``math`` below (eq. 16,
18-20), the plain log-odds ratio they approach under a flat vanishing prior, statsmodels'
``multipletests`` for the adjustments, scipy for the length tests, a seeded corpus whose signatures
are planted (and two groups drawn alike, which have none), and the regular expressions run by
Python's ``re`` and by DuckDB (RE2) on texts whose expected match is written by hand.
"""

from __future__ import annotations

import base64
import math
import re
import shutil
import string
import subprocess

import duckdb
import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from analysis.text.signatures import (Signature, default_prior_scale, find_signatures, length_shift, log_odds_dirichlet,
                                      phrase_runs, score_phrases, signature_pattern)

# ------------------------------------------------------------------------------------------------
# log_odds_dirichlet
# ------------------------------------------------------------------------------------------------


def test_log_odds_dirichlet_hand_worked():
    y_a = np.array([10.0, 5.0, 1.0])  # n_a = 16
    y_b = np.array([2.0, 6.0, 8.0])  # n_b = 16
    prior = np.array([1.0, 2.0, 0.5])  # a0 = 3.5
    # eq. 16: log((y_a + a) / (n_a + a0 - y_a - a)) - log((y_b + a) / (n_b + a0 - y_b - a))
    delta = [
        math.log(11 / 8.5) - math.log(3 / 16.5),  # (10+1)/(19.5-11), (2+1)/(19.5-3)
        math.log(7 / 12.5) - math.log(8 / 11.5),  # (5+2)/(19.5-7), (6+2)/(19.5-8)
        math.log(1.5 / 18.0) - math.log(8.5 / 11.0),  # (1+.5)/(19.5-1.5), (8+.5)/(19.5-8.5)
    ]
    variance = [1 / 11 + 1 / 3, 1 / 7 + 1 / 8, 1 / 1.5 + 1 / 8.5]
    d, v, z = log_odds_dirichlet(y_a, y_b, prior)
    np.testing.assert_allclose(d, delta, rtol=1e-12)
    np.testing.assert_allclose(v, variance, rtol=1e-12)
    np.testing.assert_allclose(z, [dd / math.sqrt(vv) for dd, vv in zip(delta, variance, strict=True)], rtol=1e-12)
    assert d[0] == pytest.approx(1.96258, abs=1e-5)  # log(11/8.5) = 0.25783, log(3/16.5) = -1.70475


def test_log_odds_dirichlet_flat_vanishing_prior_is_the_plain_log_odds_ratio():
    y_a = np.array([30.0, 12.0, 7.0, 51.0])
    y_b = np.array([10.0, 20.0, 40.0, 130.0])
    n_a, n_b = 100.0, 200.0
    plain = [math.log(ya / (n_a - ya)) - math.log(yb / (n_b - yb)) for ya, yb in zip(y_a, y_b, strict=True)]
    for eps, tol in ((1e-3, 1e-3), (1e-7, 1e-7)):
        d, v, _ = log_odds_dirichlet(y_a, y_b, np.full(4, eps))
        np.testing.assert_allclose(d, plain, atol=tol)
        np.testing.assert_allclose(v, 1 / y_a + 1 / y_b, atol=tol)


def test_log_odds_dirichlet_rows_are_vocabularies():
    rng = np.random.default_rng(3)
    y_a, y_b = rng.integers(0, 50, (5, 4)).astype(float), rng.integers(0, 50, (5, 4)).astype(float)
    prior = rng.uniform(0.1, 2.0, (5, 4))
    d, v, z = log_odds_dirichlet(y_a, y_b, prior)
    for i in range(5):
        for got, want in zip((d[i], v[i], z[i]), log_odds_dirichlet(y_a[i], y_b[i], prior[i]), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_log_odds_dirichlet_refuses_mismatched_or_negative_input():
    with pytest.raises(ValueError, match="same shape"):
        log_odds_dirichlet(np.ones(3), np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        log_odds_dirichlet(np.array([1.0, -1.0]), np.ones(2), np.ones(2))


def test_score_phrases_is_the_per_phrase_two_by_two_with_the_pooled_prior():
    """One phrase worked by hand: the share of requests holding it, against its absence."""
    fail = ["hypothetically speaking"] * 6 + ["plain words here"] * 4  # 10 failing, 6 hold it
    base = ["hypothetically speaking"] * 2 + ["plain words here"] * 18  # 20 baseline, 2 hold it
    t = score_phrases(fail, base, min_count=1, prior_scale=3.0).set_index("phrase")
    a = 3.0 * 8 / 30  # the pooled share 8/30 of a0 = 3 pseudo-requests; its complement is 3 - a
    delta = math.log((6 + a) / (10 + 3 - 6 - a)) - math.log((2 + a) / (20 + 3 - 2 - a))
    var = 1 / (6 + a) + 1 / (2 + a) + 1 / (4 + 3 - a) + 1 / (18 + 3 - a)
    r = t.loc["hypothetically"]
    assert (r.n_fail, r.n_base, r.share_fail, r.share_base) == (6, 2, 0.6, 0.1)
    assert r.delta == pytest.approx(delta, rel=1e-12)
    assert r.z == pytest.approx(delta / math.sqrt(var), rel=1e-12)
    assert r.p == pytest.approx(sps.norm.sf(delta / math.sqrt(var)), rel=1e-12)
    assert t.loc["hypothetically speaking"].z == r.z  # the same requests


def test_default_prior_is_a_tenth_of_the_pooled_requests():
    assert default_prior_scale(30, 270) == pytest.approx(30.0)
    t = score_phrases(["a b c d e"] * 5, ["a b c d e"] * 5, min_count=1, stop_words=None)
    assert t.attrs["prior_scale"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------
# find_signatures
# ------------------------------------------------------------------------------------------------

FILLER = ("account order refund delivery price service answer question help please thanks support email phone "
          "number payment card shipping return product item week today tomorrow store online issue problem team "
          "message reply update status ticket customer manager policy plan detail change request option time "
          "address password login system report cost bill").split()
STOPS = "the a to and of is it for on with that this be can you we".split()


def _doc(rng: np.random.Generator, markers: dict[str, float]) -> str:
    words = [str(w) for w in rng.choice(FILLER + STOPS, size=int(rng.integers(12, 30)))]
    for marker, share in markers.items():
        if rng.random() < share:
            k = int(rng.integers(0, len(words) + 1))
            words[k:k] = marker.split()
    return " ".join(words)


def _corpus(seed: int, n_fail: int, n_base: int, fail_share: float, base_share: float) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    markers = ("hypothetically", "my father")
    fail = [_doc(rng, dict.fromkeys(markers, fail_share)) for _ in range(n_fail)]
    base = [_doc(rng, dict.fromkeys(markers, base_share)) for _ in range(n_base)]
    return fail, base


def test_planted_phrases_come_out_first_and_filler_does_not():
    fail, base = _corpus(0, 200, 400, 0.40, 0.02)
    sigs = find_signatures(fail, base)
    assert all(isinstance(s, Signature) and s.significant for s in sigs)
    assert {s.phrase for s in sigs[:2]} == {"hypothetically", "my father"}
    assert not [s.phrase for s in sigs if set(s.phrase.split()) <= set(FILLER + STOPS)]
    assert "father" not in {s.phrase for s in sigs}  # the same requests as "my father": pruned
    for s in sigs[:2]:
        pat = re.compile(rf"\b{s.phrase}\b")
        n_fail, n_base = sum(bool(pat.search(t)) for t in fail), sum(bool(pat.search(t)) for t in base)
        assert (s.n_fail, s.n_base) == (n_fail, n_base)
        assert (s.share_fail, s.share_base) == (n_fail / 200, n_base / 400)
        assert 0.30 < s.share_fail < 0.50 and s.share_base < 0.05
        assert s.q <= 0.05 and s.q_holm <= 0.05 and s.p <= s.q <= s.q_holm and s.z > 5
    zs = [s.z for s in sigs]
    assert zs == sorted(zs, reverse=True)


def test_groups_drawn_alike_have_no_signature():
    runs_with_any = sum(bool(find_signatures(*_corpus(100 + seed, 150, 300, 0.10, 0.10))) for seed in range(20))
    assert runs_with_any <= 1


def test_adjustments_are_statsmodels_over_every_phrase_tested():
    fail, base = _corpus(1, 100, 200, 0.3, 0.05)
    t = score_phrases(fail, base)
    ok = t.p.notna().to_numpy()
    assert ok.sum() > 50
    np.testing.assert_allclose(t.q[ok], multipletests(t.p[ok], method="fdr_bh")[1], rtol=1e-12)
    np.testing.assert_allclose(t.q_holm[ok], multipletests(t.p[ok], method="holm")[1], rtol=1e-12)
    assert (t.n_fail + t.n_base >= 5).all()  # the independent filter: pooled count


def test_min_count_and_max_signatures():
    fail, base = _corpus(2, 200, 400, 0.40, 0.02)
    assert len(find_signatures(fail, base, max_signatures=1)) == 1
    assert find_signatures(fail, base, min_count=500) == []
    one = find_signatures(fail, base, ngram_range=(1, 1))
    assert [s.phrase for s in one][:2] in (["hypothetically", "father"], ["father", "hypothetically"])


def test_phrases_of_stop_words_only_are_not_phrases():
    fail = ["of the it is what if my father"] * 10
    base = ["of the it is"] * 10
    tested = set(score_phrases(fail, base, min_count=1).phrase)
    assert "of the" not in tested and "it is" not in tested and "what if" not in tested
    assert {"my father", "father", "if my father"} <= tested
    assert "it is" in set(score_phrases(fail, base, min_count=1, stop_words=None).phrase)


def test_degenerate_input():
    assert find_signatures(["a b c"], ["d e f"]) == []  # nothing in five texts
    assert score_phrases(["", None], ["..."], min_count=1).empty
    with pytest.raises(ValueError, match="both groups"):
        find_signatures([], ["x y"])
    with pytest.raises(ValueError, match="alpha"):
        find_signatures(["x"], ["y"], alpha=1.5)
    with pytest.raises(ValueError, match="ngram_range"):
        find_signatures(["x"], ["y"], ngram_range=(2, 1))
    with pytest.raises(ValueError, match="prior_scale"):
        find_signatures(["x"], ["y"], prior_scale=0.0)


def test_phrase_runs_break_where_the_pattern_would():
    text = "Hello, my father's dog\nwhat\u2019s up? C++ is 'quoted' here 42 caf\u00e9 ok\u00a0then u.s. army"
    assert phrase_runs(text) == [["hello"], ["my", "father's", "dog", "what's", "up"], ["c"], ["is"], ["quoted"],
                                 ["here"], ["ok"], ["then", "u"], ["s"], ["army"]]


def test_every_phrase_counted_is_matched_by_its_pattern():
    texts = ["Hello, my father\nsaid: (hypothetically) what's next?", "the U.S. army; 3 dogs ran - fast!",
             "My  Father SAID it twice, my father said.", "naive caf\u00e9 owner said hello",
             "e-mail sent, said father"]
    t = score_phrases(texts[:3], texts[3:], min_count=1, stop_words=None)
    assert len(t) > 20
    for r in t.itertuples():
        pat = re.compile(signature_pattern([r.phrase]))
        assert sum(bool(pat.search(x)) for x in texts[:3]) == r.n_fail, r.phrase
        assert sum(bool(pat.search(x)) for x in texts[3:]) == r.n_base, r.phrase


# ------------------------------------------------------------------------------------------------
# signature_pattern
# ------------------------------------------------------------------------------------------------

#: (phrases, text, expected match), written by hand.
PATTERN_CASES = [
    (["hypothetically", "my father"], "Hypothetically, what would you do?", True),
    (["hypothetically", "my father"], "and MY FATHER said", True),
    (["hypothetically", "my father"], "my   father", True),
    (["hypothetically", "my father"], "ask my\nfather", True),
    (["hypothetically", "my father"], "my\t\r\n  father", True),
    (["hypothetically", "my father"], "myfather", False),
    (["hypothetically", "my father"], "my grandfather", False),
    (["hypothetically", "my father"], "unhypothetically", False),
    (["hypothetically", "my father"], "hypotheticallyx", False),
    (["hypothetically", "my father"], "my, father", False),
    (["hypothetically", "my father"], "my fathers", False),
    (["c++"], "I write C++ daily", True),
    (["c++"], "c++", True),
    (["c++"], "(c++)", True),
    (["c++"], "abc++ code", False),
    (["c++"], "c++x", False),
    (["c++"], "c+ only", False),
    (["c++"], "cc", False),
    (["what's"], "What's the plan", True),
    (["what's"], "what\u2019s the plan", True),
    (["what's"], "whats the plan", False),
    (["what's"], "what s the plan", False),
    (["u.s."], "the U.S. economy", True),
    (["u.s."], "in the u.s.", True),
    (["u.s."], "tell us", False),
    (["u.s."], "uxsx", False),
    (["u.s."], "the u.s.a", False),
    (["u.s. army"], "the U.S.\n  Army", True),
    (["a|b", "(x)", "1+1=2", "$5.00?"], "is it a|b or not", True),
    (["a|b", "(x)", "1+1=2", "$5.00?"], "just a or b", False),
    (["a|b", "(x)", "1+1=2", "$5.00?"], "see (x) there", True),
    (["a|b", "(x)", "1+1=2", "$5.00?"], "see x there", False),
    (["a|b", "(x)", "1+1=2", "$5.00?"], "so 1+1=2 holds", True),
    (["a|b", "(x)", "1+1=2", "$5.00?"], "so 11=2 holds", False),
    (["a|b", "(x)", "1+1=2", "$5.00?"], "only $5.00? yes", True),
    (["a|b", "(x)", "1+1=2", "$5.00?"], "only $5000 yes", False),
    (["[note]", "x.*y"], "a [NOTE] here", True),
    (["[note]", "x.*y"], "a note here", False),
    (["[note]", "x.*y"], "x.*y", True),
    (["[note]", "x.*y"], "xaby", False),
    ([string.punctuation], f"x {string.punctuation} y", True),
    ([string.punctuation], "x !#$%&()*+,-./:;<=>?@[]^`{|}~ y", False),
    ([], "anything at all", False),
    ([], "", False),
]


def test_pattern_of_the_docstring():
    assert signature_pattern(["hypothetically", "my father"]) == r"(?i:\b(?:hypothetically|my\s+father)\b)"
    assert signature_pattern(["My  Father", "my father", " "]) == r"(?i:\b(?:My\s+Father)\b)"


@pytest.mark.parametrize(("phrases", "text", "expected"), PATTERN_CASES)
def test_pattern_under_python_re(phrases, text, expected):
    assert bool(re.search(signature_pattern(phrases), text)) is expected


def test_pattern_under_duckdb():
    con = duckdb.connect()
    try:
        for phrases, text, expected in PATTERN_CASES:
            got = con.execute("SELECT regexp_matches(?, ?)", [text, signature_pattern(phrases)]).fetchall()[0][0]
            assert got is expected, (phrases, text)
    finally:
        con.close()


#: Spark's ``rlike``: ``java.util.regex.Pattern.compile(pattern).matcher(text).find()``.
JAVA_FIND = """
import java.io.*; import java.nio.charset.StandardCharsets; import java.util.Base64; import java.util.regex.Pattern;
public class Find { public static void main(String[] a) throws IOException {
  BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII)); String p, t;
  while ((p = in.readLine()) != null && (t = in.readLine()) != null) {
    String pat = new String(Base64.getDecoder().decode(p), StandardCharsets.UTF_8);
    String text = new String(Base64.getDecoder().decode(t), StandardCharsets.UTF_8);
    System.out.println(Pattern.compile(pat).matcher(text).find()); } } }
"""


@pytest.mark.skipif(shutil.which("java") is None, reason="no Java on the PATH")
def test_pattern_under_java(tmp_path):
    (tmp_path / "Find.java").write_text(JAVA_FIND)
    b64 = lambda s: base64.b64encode(s.encode("utf-8")).decode("ascii")  # noqa: E731
    lines = "".join(f"{b64(signature_pattern(ph))}\n{b64(text)}\n" for ph, text, _ in PATTERN_CASES)
    out = subprocess.run(["java", str(tmp_path / "Find.java")], input=lines, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == [str(expected).lower() for _, _, expected in PATTERN_CASES]


def test_pattern_has_no_lookaround_nor_backreference():
    pat = signature_pattern(["hypothetically", "my father", "c++", "what's", "u.s.", "(x)", "a|b"])
    assert not re.search(r"\(\?<?[=!]|\\[1-9]|\(\?P", pat)


# ------------------------------------------------------------------------------------------------
# length_shift
# ------------------------------------------------------------------------------------------------


def test_length_shift_against_scipy():
    rng = np.random.default_rng(7)
    fail = np.round(rng.lognormal(5.4, 0.6, 80))
    base = np.round(rng.lognormal(5.0, 0.5, 300))
    out = length_shift(list(fail) + [np.nan], base)
    mw = sps.mannwhitneyu(fail, base, alternative="two-sided")
    ks = sps.ks_2samp(fail, base)
    assert (out["n_fail"], out["n_base"]) == (80, 300)
    assert out["median_fail"] == np.median(fail) and out["median_base"] == np.median(base)
    assert out["median_ratio"] == pytest.approx(np.median(fail) / np.median(base))
    assert out["q1_fail"] == np.quantile(fail, 0.25) and out["q3_base"] == np.quantile(base, 0.75)
    assert out["u"] == mw.statistic and out["p"] == mw.pvalue
    assert out["prob_fail_longer"] == pytest.approx(mw.statistic / (80 * 300))
    assert out["ks"] == ks.statistic and out["ks_p"] == ks.pvalue
    assert out["p"] < 1e-6 and out["prob_fail_longer"] > 0.6


def test_length_shift_with_an_empty_group():
    out = length_shift([], [1, 2, 3])
    assert out["n_fail"] == 0 and math.isnan(out["median_fail"]) and math.isnan(out["p"])
    assert out["median_base"] == 2


def test_a_phrase_in_every_text_is_untested_even_when_its_prior_rounds_past_the_total() -> None:
    """1 failing and 12 baseline texts: a0 = 0.1 * 13 and a0 * 13 / 13 exceeds a0 by one ulp in floating
    point (a phrase in every text once raised "counts and prior must be non-negative"; retrieval seed 6)."""
    a0 = 0.1 * 13
    assert a0 * 13 / 13 > a0  # the rounding this guards against
    out = score_phrases(["chest pain now"], ["chest pain now"] * 12)
    assert set(out["phrase"]) >= {"chest pain now", "chest", "pain"}
    assert out["z"].isna().all() and out["p"].isna().all()
