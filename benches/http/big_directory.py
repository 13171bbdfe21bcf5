#!/usr/bin/env python3
"""Writes a directory of AGENTS agents and ACCOUNTS accounts for the example
rules (rules/global-support): the teams and skills of its directory.yaml,
accounts in three-level hierarchies, agents spread over the teams.

    python3 benches/http/big_directory.py OUT.yaml [AGENTS] [ACCOUNTS]
"""
import json
import random
import sys

out = sys.argv[1]
agents = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
accounts = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
rng = random.Random(16)

# Teams and skills are the example directory's, verbatim: the rules name them.
source = open("rules/global-support/directory.yaml", encoding="utf-8").read()
teams_and_skills = source[source.index("skills:"):source.index("agents:")]
team_ids = [line.split("id: ")[1].split(",")[0] for line in teams_and_skills.splitlines() if "{ id: " in line]
skills = ["accessibility", "account", "api", "billing", "compliance", "database", "debugging", "identity",
          "incident", "integrations", "legal", "mobile", "performance", "privacy", "reporting", "retention",
          "sales", "security"]
countries = ["DE", "US", "GB", "FR", "JP", "BR", "SE", "IN", "AU", "MX"]
languages = ["en", "de", "fr", "es", "ja", "pt", "sv"]
entitlements = ["platinum", "gold", "silver", "standard"]
segments = ["enterprise", "mid-market", "smb"]

with open(out, "w", encoding="utf-8") as f:
    f.write("accounts:\n")
    # Roots with two children each, each child with one grandchild.
    n = 0
    while n < accounts:
        root = f"acct-{n}"
        f.write(f"  - {{ id: {root}, name: Account {n}, segment: {rng.choice(segments)}, "
                f"entitlement: {rng.choice(entitlements)}, attributes: {{ mrr: {rng.randint(100, 200000)} }} }}\n")
        n += 1
        for _ in range(2):
            if n >= accounts:
                break
            child = f"acct-{n}"
            f.write(f"  - {{ id: {child}, name: Account {n}, parent: {root}, country: {rng.choice(countries)} }}\n")
            n += 1
            if n < accounts:
                f.write(f"  - {{ id: acct-{n}, name: Account {n}, parent: {child} }}\n")
                n += 1
    f.write(teams_and_skills)
    f.write("agents:\n")
    for i in range(agents):
        team = team_ids[i % len(team_ids)]
        own = {s: rng.randint(1, 10) for s in rng.sample(skills, 5)}
        langs = sorted({"en", rng.choice(languages)})
        capacity = rng.choice([8, 10, 12])
        f.write(f"  - {{ id: agent-{i}, teams: [{team}], languages: [{', '.join(langs)}], "
                f"skills: {json.dumps(own).replace(chr(34), '')}, capacity: {capacity}, "
                f"load: {rng.randint(0, capacity)}, presence: {rng.choice(['online', 'online', 'away', 'offline'])} }}\n")
