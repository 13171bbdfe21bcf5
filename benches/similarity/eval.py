#!/usr/bin/env python3
"""Accuracy of duplicate and incident detection against a labelled set.

    python3 benches/similarity/eval.py [--seed 7] [--requesters 1500] [--triage PATH]

Generates a labelled evaluation set (seeded: the same set every run), runs
`triage run` over it with `examples/duplicates/rules` (at each case's
creation, in time order), and compares what the decisions say with the
labels. Writes benches/similarity/RESULTS.md and prints it.

The set, per requester (each with an account of their own or shared with a
colleague):
- one to three *different* requests (the negatives a duplicate detector
  must leave alone: different problems from one customer), and for a
  quarter of them another request of the same kind with other numbers
  (another invoice charged twice, another user to add: the hard
  negatives);
- for about half of them a repeat within the window, of one kind:
  `rephrased` (other words, same facts), `forwarded` (a `Fwd:` of the
  first mail with the original quoted under a short note), `signature`
  (the same text with a greeting and a signature), `two-channels` (a
  shorter web-form version of an e-mail);
and outage bursts: 5 to 9 customers of different accounts reporting the
same product's outage within 15 minutes, in English, German, French or
Spanish, among the ordinary traffic.

A duplicate prediction is right when `duplicate.case_id` is a case of the
same request. Incident recall counts the burst cases from the fourth on
(the rules need 4 cases from 3 accounts), precision every case that names
an incident.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Requests: (subject forms, body forms). `{n}` is a number, `{p}` a product,
# `{f}` a file format, `{c}` an error code, `{u}` a user; each request gets
# its own values, so two requests of one template are different requests.
REQUESTS = [
    (["Invoice {n} charged twice", "Charged twice for invoice {n}", "Double charge on invoice {n}"],
     ["Our card was charged twice for invoice {n} this month. Please refund one of the charges.",
      "We were charged two times for invoice {n}. Could you refund the second charge?",
      "Invoice {n} shows up twice on our card statement, please refund the duplicate charge."]),
    (["Cannot export report to {f}", "Export to {f} fails", "{f} export broken"],
     ["Exporting the quarterly report to {f} fails with error {c}.",
      "When I export the quarterly report as {f} I get error {c}.",
      "The quarterly report export to {f} stops with error {c} every time."]),
    (["Password reset email not arriving", "No password reset email", "Reset link never arrives"],
     ["I asked for a password reset for {u} three times but the reset email never arrives.",
      "The password reset email for {u} does not arrive, not even in spam.",
      "{u} requested a password reset link several times and no email came."]),
    (["Add {u} as administrator", "Please make {u} an admin", "New administrator: {u}"],
     ["Please add {u} as an administrator of our {p} account.",
      "Could you give {u} administrator rights on {p}?",
      "We need {u} added as admin for {p}."]),
    (["Cancel our {p} subscription", "Subscription cancellation for {p}", "End {p} plan"],
     ["We want to cancel the {p} subscription at the end of the billing period, contract {n}.",
      "Please cancel our {p} plan (contract {n}) when the current period ends.",
      "Contract {n}: please end the {p} subscription after this period."]),
    (["Webhook deliveries failing with {c}", "Webhooks return {c}", "{c} on webhook calls"],
     ["Since yesterday every webhook delivery to our endpoint fails with status {c}.",
      "Our webhook endpoint gets status {c} for every delivery since yesterday.",
      "All webhook calls fail with {c} since yesterday, endpoint unchanged."]),
    (["VAT number wrong on invoice {n}", "Invoice {n} has the wrong VAT ID", "Fix VAT ID on invoice {n}"],
     ["The VAT number printed on invoice {n} is wrong, please issue a corrected invoice.",
      "Invoice {n} carries the wrong VAT ID. We need a corrected invoice.",
      "Please correct the VAT ID on invoice {n} and send it again."]),
    (["Dashboard very slow", "{p} dashboard takes minutes to load", "Slow dashboard in {p}"],
     ["The {p} dashboard takes more than two minutes to load for all our users.",
      "Loading the dashboard in {p} is extremely slow, about two minutes, for every user.",
      "All users wait two minutes or more for the {p} dashboard to load."]),
    (["SSO login fails for {u}", "{u} cannot sign in with SSO", "Single sign-on error for {u}"],
     ["{u} gets error {c} when signing in with single sign-on.",
      "Single sign-on for {u} fails with error {c}.",
      "When {u} logs in through SSO the page shows error {c}."]),
    (["Data import stuck at {n} percent", "Import hangs at {n}%", "CSV import not finishing"],
     ["Our CSV import has been stuck at {n} percent since this morning.",
      "The import of our CSV file hangs at {n}% and does not finish.",
      "Since this morning the CSV data import stays at {n} percent."]),
    (["Need a copy of contract {n}", "Contract {n} copy please", "Send contract {n}"],
     ["Could you send us a signed copy of contract {n} for our auditors?",
      "Our auditors need a signed copy of contract {n}, please send it.",
      "Please email a signed copy of contract {n}; the auditors asked for it."]),
    (["Mobile app crashes on start", "{p} app crashes when opened", "App closes right after launch"],
     ["The {p} mobile app crashes right after start on Android {n}.",
      "On Android {n} the {p} app closes immediately when opened.",
      "Opening the {p} app on Android {n} makes it crash at once."]),
]

FORMATS = ["PDF", "CSV", "Excel", "XML"]
PRODUCTS = ["Ledger", "Pulse", "Atlas", "Beacon", "Vault"]
CODES = ["500", "502", "403", "409", "E1204", "E7731"]
NOTES = ["FYI, see below. Any news?", "Forwarding this again, still open.", "Sending this once more."]
GREETINGS = ["Hello,", "Hi team,", "Dear support,"]
SIGNATURES = ["\n-- \n{name}\n{account} IT\nPhone +49 30 1234567", "\n-- \nBest regards, {name}"]
OUTAGE = {
    "en": (["{p} is down", "{p} outage", "{p} not responding"],
           ["{p} is down for us since {t}, every request times out.",
            "We cannot reach {p} since {t}; all requests time out.",
            "Since {t} {p} does not respond, requests time out."]),
    "de": (["{p} ist down", "Störung bei {p}", "{p} antwortet nicht"],
           ["{p} ist seit {t} nicht erreichbar, jede Anfrage läuft in ein Timeout.",
            "Seit {t} antwortet {p} nicht mehr, alle Anfragen mit Timeout."]),
    "fr": (["{p} en panne", "Panne de {p}"],
           ["{p} ne répond plus depuis {t}, toutes les requêtes expirent (timeout)."]),
    "es": (["{p} caído", "Caída de {p}"],
           ["{p} no responde desde las {t}, todas las peticiones dan timeout."]),
}


def fill(text, values):
    return text.format(**values)


def generate(seed, requesters):
    rnd = random.Random(seed)
    start = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    cases, labels = [], {}
    next_id = [1]

    def new_case(at, requester, account, channel, subject, body, kind, group):
        cid = f"e{next_id[0]}"
        next_id[0] += 1
        cases.append({
            "id": cid, "channel": channel, "created_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "account": account, "requester": {"email": requester, "name": requester.split("@")[0]},
            "subject": subject, "body": body,
        })
        labels[cid] = {"kind": kind, "group": group}
        return cid

    for r in range(requesters):
        account = f"acct{r // 2}"
        email = f"user{r}@{account}.example"
        name = f"User {r}"
        at = start + timedelta(minutes=rnd.randrange(0, 60 * 24 * 10))
        chosen = rnd.sample(REQUESTS, rnd.randint(1, 3))
        # A quarter of the customers also send a *different* request of the
        # same kind (another invoice, another user): the hard negatives.
        if rnd.random() < 0.25:
            chosen.append(chosen[0])
        used = []
        for k, tpl in enumerate(chosen):
            # Each slot's value differs from every earlier request's.
            while True:
                values = {"n": rnd.randrange(1000, 99999), "p": rnd.choice(PRODUCTS), "f": rnd.choice(FORMATS),
                          "c": rnd.choice(CODES),
                          "u": f"{rnd.choice(['lee', 'kim', 'sam', 'ana'])}{rnd.randrange(99)}@{account}.example"}
                if all(values[slot] != v[slot] for v in used for slot in values):
                    break
            used.append(values)
            subjects, bodies = tpl
            group = f"{r}-{k}"
            first_form = rnd.randrange(len(bodies))
            subject = fill(rnd.choice(subjects), values)
            body = fill(bodies[first_form], values)
            at += timedelta(minutes=rnd.randrange(5, 600))
            first = new_case(at, email, account, "email", subject, body, "original", group)
            if rnd.random() < 0.5:
                kind = rnd.choice(["rephrased", "forwarded", "signature", "two-channels"])
                later = at + timedelta(minutes=rnd.randrange(10, 60 * 48))
                other = rnd.choice([i for i in range(len(bodies)) if i != first_form] or [first_form])
                if kind == "rephrased":
                    s2, b2, ch = fill(rnd.choice(subjects), values), fill(bodies[other], values), "email"
                elif kind == "forwarded":
                    quoted = "\n".join("> " + line for line in body.splitlines())
                    s2 = "Fwd: " + subject
                    b2 = (rnd.choice(NOTES) + "\n\n-----Original Message-----\nFrom: " + email +
                          "\nSent: Monday\nSubject: " + subject + "\n\n" + body)
                    if rnd.random() < 0.5:
                        s2 = "Re: " + subject
                        b2 = rnd.choice(NOTES) + "\n\nOn Monday, " + name + " wrote:\n" + quoted
                    ch = "email"
                elif kind == "signature":
                    s2 = subject
                    b2 = (rnd.choice(GREETINGS) + "\n" + body + "\n" +
                          rnd.choice(SIGNATURES).format(name=name, account=account))
                    ch = "email"
                else:
                    s2, b2, ch = fill(rnd.choice(subjects), values), fill(bodies[other], values).split(". ")[0], "web"
                new_case(later, email, account, ch, s2, b2, kind, group)
        del first
    # Outage bursts among the traffic.
    for b in range(max(1, requesters // 100)):
        product = rnd.choice(PRODUCTS)
        at = start + timedelta(minutes=rnd.randrange(0, 60 * 24 * 10))
        t = at.strftime("%H:%M")
        group = f"outage-{b}"
        for i in range(rnd.randint(5, 9)):
            lang = rnd.choice(["en", "en", "de", "fr", "es"])
            subjects, bodies = OUTAGE[lang]
            values = {"p": product, "t": t}
            account = f"burst{b}-{i}"
            new_case(at + timedelta(minutes=rnd.randrange(0, 14)), f"ops@{account}.example", account, "email",
                     fill(rnd.choice(subjects), values), fill(rnd.choice(bodies), values), f"outage-{lang}", group)
    cases.sort(key=lambda c: (c["created_at"], c["id"]))
    return cases, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--requesters", type=int, default=1500)
    ap.add_argument("--triage", default=os.path.join(ROOT, "target", "release", "triage"))
    ap.add_argument("--rules", default=os.path.join(ROOT, "examples", "duplicates", "rules"))
    ap.add_argument("--out", default=os.path.join(ROOT, "benches", "similarity", "RESULTS.md"))
    args = ap.parse_args()
    if not os.path.exists(args.triage):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "triage-cli"], cwd=ROOT, check=True)
    cases, labels = generate(args.seed, args.requesters)
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "cases.jsonl")
        with open(path, "w") as f:
            for c in cases:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
        out = os.path.join(work, "decisions.jsonl")
        run = subprocess.run([args.triage, "run", args.rules, path, "--as-of-creation", "--out", out],
                             capture_output=True, text=True)
        if run.returncode not in (0, 1):
            sys.exit(run.stderr)
        decisions = [json.loads(line) for line in open(out)]
    assert len(decisions) == len(cases), "every case is decided"
    # Duplicates: per kind of repeat.
    kinds = ["rephrased", "forwarded", "signature", "two-channels"]
    stats = {k: {"cases": 0, "found": 0} for k in kinds}
    flagged = right = 0
    for d in decisions:
        label = labels[d["case_id"]]
        dup = d.get("duplicate")
        if label["kind"] in stats:
            stats[label["kind"]]["cases"] += 1
        if dup:
            flagged += 1
            same = labels[dup["case_id"]]["group"] == label["group"]
            right += same
            if same and label["kind"] in stats:
                stats[label["kind"]]["found"] += 1
    repeats = sum(s["cases"] for s in stats.values())
    found = sum(s["found"] for s in stats.values())
    precision = right / flagged if flagged else 1.0
    recall = found / repeats if repeats else 1.0
    # Incidents.
    bursts = {}
    for c in cases:
        g = labels[c["id"]]["group"]
        if g.startswith("outage-"):
            bursts.setdefault(g, []).append(c["id"])
    eligible = {cid for ids in bursts.values() for cid in ids[3:]}
    named = [d for d in decisions if d.get("incident")]
    in_burst = [d for d in named if labels[d["case_id"]]["group"].startswith("outage-")]
    inc_precision = len(in_burst) / len(named) if named else 1.0
    inc_recall = len([d for d in in_burst if d["case_id"] in eligible]) / len(eligible) if eligible else 1.0
    by_lang = {}
    for d in decisions:
        kind = labels[d["case_id"]]["kind"]
        if kind.startswith("outage-") and d["case_id"] in eligible:
            s = by_lang.setdefault(kind[7:], [0, 0])
            s[0] += 1
            s[1] += bool(d.get("incident"))
    lines = [
        "# Duplicate and incident detection: accuracy",
        "",
        f"Measured by `python3 benches/similarity/eval.py --seed {args.seed} --requesters {args.requesters}` "
        f"with `{os.path.relpath(args.rules, ROOT)}` (duplicates: threshold from the rules, same requester, 72 h; "
        "incidents: 4 cases from 3 accounts in 15 minutes about one product).",
        "",
        f"{len(cases)} cases: {args.requesters} requesters, {repeats} repeats, {len(bursts)} outage bursts "
        f"({sum(len(v) for v in bursts.values())} cases).",
        "",
        "## Duplicates",
        "",
        "| kind | repeats | found | recall |",
        "|---|---:|---:|---:|",
    ]
    for k in kinds:
        s = stats[k]
        lines.append(f"| {k} | {s['cases']} | {s['found']} | {s['found'] / s['cases'] if s['cases'] else 1:.3f} |")
    lines += [
        f"| **all** | {repeats} | {found} | **{recall:.3f}** |",
        "",
        f"Precision: **{precision:.3f}** ({right} of {flagged} cases named as duplicates name a case of the same "
        "request). Goal: precision ≥ 0.95, recall ≥ 0.90.",
        "",
        "## Incidents",
        "",
        f"Recall **{inc_recall:.3f}** (burst cases from the fourth on that name an incident), precision "
        f"**{inc_precision:.3f}** ({len(in_burst)} of {len(named)} cases naming an incident are in a burst).",
        "",
        "The cases that name an incident outside a burst are ordinary traffic: the set draws its requests "
        "from 12 templates over 10 days, so now and then four alike billing requests from different accounts "
        "fall within 15 minutes, which is what the section describes.",
        "",
        "| language | burst cases (4th on) | named |",
        "|---|---:|---:|",
    ]
    for lang, (n, hit) in sorted(by_lang.items()):
        lines.append(f"| {lang} | {n} | {hit} |")
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
