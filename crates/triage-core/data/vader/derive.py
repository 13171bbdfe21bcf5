"""Derives lexicon.tsv from vaderSentiment 3.3.2's vader_lexicon.txt.

Usage: python3 derive.py PATH/TO/vader_lexicon.txt > lexicon.tsv

Keeps what the reference's scorer can reach: its `make_lex_dict` reads the
first two tab-separated fields of each stripped line, a later line of the
same token wins, and `polarity_scores` only ever looks up a lower-cased token
without white space. Tokens with white space or upper-case letters are left
out; the rest keep the reference's mean rating as written.
"""

import hashlib
import sys

data = open(sys.argv[1], "rb").read()
sys.stderr.write("sha256 %s\n" % hashlib.sha256(data).hexdigest())
raw = data.decode("utf-8")
table = {}
for line in raw.rstrip("\n").split("\n"):
    if not line:
        continue
    token, mean = line.strip().split("\t")[0:2]
    table[token] = mean
for token, mean in table.items():
    if token.lower() != token or any(c.isspace() for c in token):
        continue
    float(mean)
    sys.stdout.write("%s\t%s\n" % (token, mean))
