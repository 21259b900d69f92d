"""The default weight of the failure signatures' prior (``analysis.text.signatures.default_prior_scale``).

Run: ``.venv/bin/python benchmarks/signature_prior.py`` (about eight minutes on two cores).

Synthetic corpora: 1,500 made-up words drawn with Zipf frequencies (exponent 1.1), 20-59 words a
text, scored as 1- to 3-grams by :func:`analysis.text.signatures.score_phrases` (``min_count=5``)
under several weights :math:`\\alpha_0` of the prior: a fraction of the pooled number of texts, or
of the smaller group. Two tables:

* *no difference*: both groups drawn from one distribution; the number of runs in which some phrase
  comes out significant (BH ``q <= 0.05`` and at least 5 failing texts), which should stay near or
  under 5% of the runs;
* *planted phrase*: "hypothetically speaking" inserted into a share of the failing and of the
  baseline texts; the runs in which it comes out significant and its median z.

Nothing here asserts; the figures are quoted in ``default_prior_scale``'s docstring.
"""

from __future__ import annotations

import argparse

import numpy as np

from analysis.text.signatures import score_phrases

VOCAB = 1500
PLANT = "hypothetically speaking"
WEIGHTS = {
    "0.01 pooled": lambda a, b: 0.01 * (a + b), "0.05 pooled": lambda a, b: 0.05 * (a + b),
    "0.1 pooled": lambda a, b: 0.1 * (a + b), "0.1 smaller": lambda a, b: 0.1 * min(a, b),
    "0.25 smaller": lambda a, b: 0.25 * min(a, b), "0.5 smaller": lambda a, b: 0.5 * min(a, b),
}
NULL = [(30, 300, 60), (30, 1500, 40), (100, 1000, 60), (200, 200, 60)]
PLANTED = [(200, 200, 0.1, 0.02), (100, 1000, 0.1, 0.02), (100, 1000, 0.06, 0.0), (100, 1000, 0.15, 0.0),
           (50, 500, 0.3, 0.05), (200, 1000, 0.25, 0.12), (300, 300, 0.15, 0.07)]


def _words() -> tuple[np.ndarray, np.ndarray]:
    p = 1 / np.arange(1, VOCAB + 1) ** 1.1
    words = np.array([f"w{chr(97 + i % 26)}{chr(97 + (i // 26) % 26)}{chr(97 + i // 676)}" for i in range(VOCAB)])
    return words, p / p.sum()


def _corpus(rng: np.random.Generator, n: int, share: float = 0.0) -> list[str]:
    words, p = _words()
    docs = []
    for _ in range(n):
        length = rng.integers(20, 60)
        w = list(words[rng.choice(VOCAB, length, p=p)])
        if share and rng.random() < share:
            k = rng.integers(0, length)
            w[k:k] = PLANT.split()
        docs.append(" ".join(w))
    return docs


def _tables(fail: list[str], base: list[str]) -> dict:
    return {name: score_phrases(fail, base, prior_scale=rule(len(fail), len(base)), stop_words=None)
            for name, rule in WEIGHTS.items()}


def main(scale: float) -> None:
    print("| no difference: failing / baseline texts (runs) | " + " | ".join(WEIGHTS) + " |")
    print("|---" * (len(WEIGHTS) + 1) + "|")
    for n_a, n_b, runs in NULL:
        hits = dict.fromkeys(WEIGHTS, 0)
        for s in range(max(1, int(runs * scale))):
            rng = np.random.default_rng(1000 + s)
            for name, t in _tables(_corpus(rng, n_a), _corpus(rng, n_b)).items():
                hits[name] += bool(((t.q <= 0.05) & (t.n_fail >= 5)).any())
        print(f"| {n_a} / {n_b} ({max(1, int(runs * scale))}) | " + " | ".join(str(hits[k]) for k in WEIGHTS) + " |")
    print(f"\n| planted: texts, shares ({max(1, int(30 * scale))} runs) | " + " | ".join(WEIGHTS) + " |")
    print("|---" * (len(WEIGHTS) + 1) + "|")
    for n_a, n_b, s_a, s_b in PLANTED:
        hits, zs = dict.fromkeys(WEIGHTS, 0), {k: [] for k in WEIGHTS}
        for s in range(max(1, int(30 * scale))):
            rng = np.random.default_rng(2000 + s)
            for name, t in _tables(_corpus(rng, n_a, s_a), _corpus(rng, n_b, s_b)).items():
                row = t[t.phrase == PLANT]
                if len(row):
                    hits[name] += bool(row.q.iat[0] <= 0.05 and row.n_fail.iat[0] >= 5)
                    zs[name].append(row.z.iat[0])
        cells = [f"{hits[k]}, z {np.median(zs[k]):.2f}" if zs[k] else "-" for k in WEIGHTS]
        print(f"| {n_a} / {n_b}, {s_a:.0%} / {s_b:.0%} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the runs (0.1 for a quick look)")
    main(ap.parse_args().scale)
