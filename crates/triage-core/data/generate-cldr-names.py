#!/usr/bin/env python3
"""Writes cldr-country-names.tsv: every country's name in every modern CLDR
locale (short and variant forms included), one `name<TAB>alpha-2<TAB>locale`
line per distinct name and code, from the `cldr-localenames-modern` npm
package (the Unicode CLDR's own JSON release).

    cd /tmp && npm pack cldr-localenames-modern@45.0.0 && tar xzf cldr-localenames-modern-45.0.0.tgz
    python3 crates/triage-core/data/generate-cldr-names.py /tmp/package > crates/triage-core/data/cldr-country-names.tsv
"""
import json
import os
import re
import sys

root = sys.argv[1]
main = os.path.join(root, "main")
version = json.load(open(os.path.join(root, "package.json")))["version"]
seen = {}
for locale in sorted(os.listdir(main)):
    path = os.path.join(main, locale, "territories.json")
    if not os.path.exists(path):
        continue
    names = json.load(open(path, encoding="utf-8"))["main"][locale]["localeDisplayNames"]["territories"]
    for key, name in sorted(names.items()):
        code = key.split("-alt-")[0]
        # Countries only: two letters, not the groupings and private codes.
        if not re.fullmatch(r"[A-Z]{2}", code) or code in {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"}:
            continue
        pair = (name.strip(), code)
        if pair[0] and pair not in seen:
            seen[pair] = locale
print(f"# Country names from Unicode CLDR {version} (cldr-localenames-modern), by generate-cldr-names.py.")
print("# name\talpha-2\tfirst locale that uses it")
for (name, code), locale in sorted(seen.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{name}\t{code}\t{locale}")
