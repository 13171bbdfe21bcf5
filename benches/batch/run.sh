#!/usr/bin/env bash
# Speed and memory of batch runs (`triage run`, `triage report`) on this
# machine, written to benches/batch/RESULTS.md:
#
#   bash benches/batch/run.sh
#
# 1. JSON Lines → JSON Lines lean decisions with the example rules, against
#    the limit measured in the same run: the same pipeline with
#    `--parse-only` (read, parse and write each case back, no decision).
#    ROUNDS rounds (default 3), each runs the two back to back.
# 2. Peak memory deciding BIG cases (default 10 million) to /dev/null.
# 3. An mbox of 100,000 messages (threads of 1–4 messages) → threaded cases.
# 4. `triage report` over the 1 million decisions of step 1.
# Settings: CASES (default 1000000), BIG (default 10000000), ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/../.."

CASES=${CASES:-1000000}
BIG=${BIG:-10000000}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RULES=rules/global-support
NOW=2026-03-02T09:00:00Z

cargo build --release -q -p triage-cli
TRIAGE=$PWD/target/release/triage

# Cases: the example corpus repeated with distinct ids.
make_cases() { # N FILE
  python3 - "$1" "$2" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
base = [l.rstrip("\n") for l in open("rules/global-support/cases/corpus.jsonl")]
with open(path, "w") as f:
    for i in range(n):
        f.write(base[i % len(base)].replace('"id": "c', f'"id": "{i}-c', 1) + "\n")
PY
}

# Runs a command; prints "seconds peak_rss_kib".
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
took = time.perf_counter() - t
print(f"{took:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

echo "== generating $CASES cases" >&2
make_cases "$CASES" "$WORK/cases.jsonl"
INPUT_MB=$(python3 -c "import os; print(round(os.path.getsize('$WORK/cases.jsonl')/2**20))")

echo "== JSON Lines: triage run vs --parse-only, $ROUNDS rounds" >&2
"$TRIAGE" run "$RULES" "$WORK/cases.jsonl" --now "$NOW" --out "$WORK/warm.jsonl" 2>/dev/null || true
ratios=(); rates=(); limits=()
for round in $(seq 1 "$ROUNDS"); do
  read -r t_run _ < <(measure "$TRIAGE" run "$RULES" "$WORK/cases.jsonl" --now "$NOW" --out "$WORK/decisions.jsonl")
  read -r t_lim _ < <(measure "$TRIAGE" run "$RULES" "$WORK/cases.jsonl" --now "$NOW" --out "$WORK/parsed.jsonl" --parse-only)
  r=$(python3 -c "print(round($CASES/$t_run))"); l=$(python3 -c "print(round($CASES/$t_lim))")
  echo "round $round: triage run $r cases/s, parse-and-write only $l cases/s" >&2
  rates+=("$r"); limits+=("$l"); ratios+=("$(python3 -c "print($t_lim/$t_run)")")
done
median() { python3 -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }
RATE=$(median "${rates[@]}"); LIMIT=$(median "${limits[@]}"); RATIO=$(python3 -c "print(round(100*$(median "${ratios[@]}")))")
RATIO_RANGE=$(python3 -c "import sys; r=[100*float(x) for x in sys.argv[1:]]; print(f'{min(r):.0f}–{max(r):.0f}')" "${ratios[@]}")
OUT_MB=$(python3 -c "import os; print(round(os.path.getsize('$WORK/decisions.jsonl')/2**20))")

echo "== peak memory on $BIG cases" >&2
make_cases "$BIG" "$WORK/big.jsonl"
rm -f "$WORK/warm.jsonl" "$WORK/parsed.jsonl"
read -r t_big rss_big < <(measure "$TRIAGE" run "$RULES" "$WORK/big.jsonl" --now "$NOW" --out /dev/null --rejects "$WORK/big.rejects.jsonl")
rm -f "$WORK/big.jsonl"
read -r t_small rss_small < <(measure "$TRIAGE" run "$RULES" "$RULES/cases/corpus.jsonl" --now "$NOW" --out /dev/null --rejects "$WORK/small.rejects.jsonl")

echo "== mbox of 100,000 messages" >&2
python3 - "$WORK/mail.mbox" <<'PY'
import base64, random, sys
random.seed(7)
subjects = ["API is down", "Invoice missing", "Refund please", "How do I export?", "Login fails",
            "Cancel my subscription", "Password reset", "Slow dashboard", "Data breach suspected", "Dark mode please"]
out = open(sys.argv[1], "wb")
n = t = thread = 0
while n < 100_000:
    subject = random.choice(subjects)
    customer = f"user{random.randint(1, 20000)}@cust{random.randint(1, 500)}.example"
    prev, refs = None, []
    for j in range(random.choice([1, 1, 2, 3, 4])):
        t += 37
        day, hh, mm, ss = 1 + (t // 86400) % 28, (t // 3600) % 24, (t // 60) % 60, t % 60
        agent = j % 2 == 1
        sender = f"Agent <agent{random.randint(1, 40)}@support.example>" if agent else f"Customer <{customer}>"
        mid = f"<m{thread}-{j}@mail.example>"
        head = (f"From {'a@support.example' if agent else customer} Mon Mar  2 {hh:02d}:{mm:02d}:{ss:02d} 2026\n"
                f"From: {sender}\nTo: help@support.example\nDate: {day} Mar 2026 {hh:02d}:{mm:02d}:{ss:02d} +0000\n"
                f"Subject: {'Re: ' if j else ''}{subject}\nMessage-ID: {mid}\n")
        if prev:
            head += f"In-Reply-To: {prev}\nReferences: {' '.join(refs)}\n"
        body = (f"Hello,\n\nabout {subject.lower()}: it happened again at {hh}:{mm}. Case {thread}.\n\n"
                "From my side everything was tried.\n\n> older text\n> more\n\n-- \nSignature\n")
        if random.random() < 0.2:
            head += "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
            body = base64.encodebytes(body.encode()).decode()
        else:
            head += "\n"
        out.write((head + body + "\n").encode())
        refs.append(mid); prev = mid; n += 1
    thread += 1
PY
read -r t_mail rss_mail < <(measure "$TRIAGE" run "$RULES" "$WORK/mail.mbox" --as-of-creation --support-address '*@support.example' --out "$WORK/mail.jsonl")
MAIL_RATE=$(python3 -c "print(round(100000/$t_mail))")
THREADS=$(wc -l < "$WORK/mail.jsonl")

echo "== triage report over $CASES decisions" >&2
read -r t_report rss_report < <(measure "$TRIAGE" report "$WORK/decisions.jsonl" --out "$WORK/report.html" --directory "$RULES/directory.yaml")

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
cat > benches/batch/RESULTS.md <<EOF
# Batch runs

Measured by \`bash benches/batch/run.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores ($CPU), the example rules
(\`$RULES\`), release build, files on the local disk.

## JSON Lines → lean decisions ($CASES cases, $INPUT_MB MiB in, $OUT_MB MiB out)

| pass | cases/s (median of $ROUNDS) |
|---|---:|
| parse-and-write only (\`--parse-only\`, the limit) | $(printf %.0f "$LIMIT") |
| \`triage run\` | $(printf %.0f "$RATE") |

**triage run reaches $RATIO % of the parse-and-write-only pass** (median of the rounds' ratios; rounds
ranged $RATIO_RANGE %). Goal: ≥ 250,000 cases/s and ≥ 50 %.

## Memory

| run | peak RSS |
|---|---:|
| $BIG cases (to /dev/null), $(printf %.0f "$t_big") s | $((rss_big / 1024)) MiB |
| 1,000 cases | $((rss_small / 1024)) MiB |

## Mail

100,000 messages in one mbox (threads of 1–4 messages, a fifth base64) → $THREADS threaded cases with
histories, decided at creation: $(printf %.2f "$t_mail") s, **$MAIL_RATE messages/s**, peak RSS
$((rss_mail / 1024)) MiB (mail is held whole for threading). Goal: ≥ 20,000 messages/s.

## Report

\`triage report\` over the $CASES decisions (HTML, with the directory's capacities):
**$(printf %.2f "$t_report") s**, peak RSS $((rss_report / 1024)) MiB. Goal: under 10 s.
EOF
cat benches/batch/RESULTS.md
