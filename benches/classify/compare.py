#!/usr/bin/env python3
"""triage's classifier against scikit-learn's on one labelled set and one
train/test split (issue #20). Opt-in: `benches/classify/run.sh` makes a
virtual environment with scikit-learn and runs this.

The data is `make_cases.py`'s (seeded); the first 80 % of the cases train,
the last 20 % test. scikit-learn reads the same text triage reads (subject
and body) through a CountVectorizer of words and word pairs seen in at
least two cases, accents stripped, lower-cased; each of MultinomialNB,
ComplementNB and LogisticRegression is tried with its default and one
smaller regularization, and the best test accuracy is triage's bar.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--label", default="category")
    ap.add_argument("--triage", default=os.path.join(HERE, "../../target/release/triage"))
    a = ap.parse_args()

    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.naive_bayes import ComplementNB, MultinomialNB

    tmp = tempfile.mkdtemp(prefix="triage-classify-")
    data = subprocess.run([sys.executable, os.path.join(HERE, "make_cases.py"), "--seed", str(a.seed),
                           "--cases", str(a.cases)], check=True, capture_output=True, text=True).stdout
    lines = data.splitlines()
    cut = len(lines) * 4 // 5
    train_path, test_path = os.path.join(tmp, "train.jsonl"), os.path.join(tmp, "test.jsonl")
    with open(train_path, "w") as f:
        f.write("\n".join(lines[:cut]) + "\n")
    with open(test_path, "w") as f:
        f.write("\n".join(lines[cut:]) + "\n")
    rows = [json.loads(l) for l in lines]

    def text(r):
        return (r.get("subject") or "") + "\n" + (r.get("body") or "")

    train, test = rows[:cut], rows[cut:]
    ytr, yte = [r[a.label] for r in train], [r[a.label] for r in test]
    vec = CountVectorizer(ngram_range=(1, 2), min_df=2, strip_accents="unicode", lowercase=True)
    xtr = vec.fit_transform([text(r) for r in train])
    xte = vec.transform([text(r) for r in test])
    results = []
    for name, model in [
        ("MultinomialNB(alpha=1.0)", MultinomialNB(alpha=1.0)),
        ("MultinomialNB(alpha=0.1)", MultinomialNB(alpha=0.1)),
        ("ComplementNB(alpha=1.0)", ComplementNB(alpha=1.0)),
        ("ComplementNB(alpha=0.1)", ComplementNB(alpha=0.1)),
        # triage chooses its smoothing per label from 0.03 to 30, so
        # scikit-learn is given the strong end too.
        ("MultinomialNB(alpha=10)", MultinomialNB(alpha=10.0)),
        ("ComplementNB(alpha=10)", ComplementNB(alpha=10.0)),
        ("LogisticRegression(C=0.1)", LogisticRegression(C=0.1, max_iter=2000)),
        ("LogisticRegression(C=1.0)", LogisticRegression(C=1.0, max_iter=2000)),
        ("LogisticRegression(C=10)", LogisticRegression(C=10.0, max_iter=2000)),
    ]:
        t = time.perf_counter()
        model.fit(xtr, ytr)
        took = time.perf_counter() - t
        p = model.predict(xte)
        results.append((name, accuracy_score(yte, p), f1_score(yte, p, average="macro"), took))

    ours = []
    for algorithm in ["complement-nb", "multinomial-nb"]:
        t = time.perf_counter()
        out = subprocess.run([a.triage, "train", train_path, "--label", a.label, "--test", test_path,
                              "--algorithm", algorithm, "--format", "json"],
                             check=True, capture_output=True, text=True)
        took = time.perf_counter() - t
        r = json.loads(out.stdout)[0]["result"]
        ours.append((f"triage {algorithm}", r["accuracy"], r["macro_f1"], took))

    print(f"{a.cases} cases (seed {a.seed}), label `{a.label}`: train {cut}, test {len(lines) - cut}")
    print(f"{'model':32} {'accuracy':>9} {'macro-F1':>9} {'fit s':>7}")
    for name, acc, f1, took in results + ours:
        print(f"{name:32} {acc:9.4f} {f1:9.4f} {took:7.2f}")
    best = max(results, key=lambda r: r[1])
    mine = ours[0]
    print(f"best scikit-learn: {best[0]} accuracy {best[1]:.4f} macro-F1 {best[2]:.4f}")
    print(f"triage (default, complement-nb): accuracy {mine[1]:.4f} ({(mine[1] - best[1]) * 100:+.2f} points), "
          f"macro-F1 {mine[2]:.4f} ({(mine[2] - best[2]) * 100:+.2f} points)")


if __name__ == "__main__":
    main()
