//! Generates the country name table normalization looks names up in.
//!
//! The data comes from maintained sources, never from a hand-kept list:
//! `keshvar` (the ISO 3166-1 codes, ISO short and official names, the
//! alternative names and the names in over a hundred languages of the
//! `countries` data set), `rust_iso3166` (the ISO short names as ISO writes
//! them) and Unicode CLDR's names of every country in every modern locale,
//! short and variant forms included (`data/cldr-country-names.tsv`,
//! generated from CLDR's JSON release by `data/generate-cldr-names.py`).
//! Codes and names go into two tables, so that a name is never read as
//! the code it happens to spell. Each name is keyed with the
//! same function normalization uses at run time (`country_key.rs`), the
//! table is sorted by key and written to `$OUT_DIR/countries.rs`, so a case's
//! country costs one binary search and the program builds nothing at
//! start-up.
//!
//! When two countries share a key, an authoritative source decides (codes,
//! then ISO names, then official names, then the aliases in
//! `src/normalize/aliases.rs`), unless two countries share it at the same
//! level; a key that only alternative or translated names give to two
//! countries goes to the one with more than twice the other's claims, and
//! is otherwise left out, since it names neither for sure (see `resolve`).
//! A third table holds the consonant skeletons of names in scripts with
//! vowel signs, where one country alone has the skeleton.

use std::collections::BTreeMap;
use std::fmt::Write as _;

#[allow(dead_code)]
#[path = "src/normalize/country_key.rs"]
mod country_key;

#[allow(dead_code)]
#[path = "src/normalize/aliases.rs"]
mod aliases;

use country_key::{country_key, country_name_variants, skeleton};

/// How a key was recognised, by rank (lower wins); the index is stored.
const HOW: [&str; 9] = [
    "ISO alpha-2",
    "ISO alpha-3",
    "ISO numeric",
    "ISO name",
    "ISO official name",
    "known alias",
    "alternative name",
    "English name",
    "name in another language",
];

/// Ranks up to this one (codes, ISO names, official names, our aliases)
/// are authoritative: the best of them names the country outright.
const AUTHORITATIVE: u8 = 5;

/// The country a key names, given every claim on it: the best
/// authoritative claim unless another country claims the key at the same
/// rank; otherwise the country most sources give it, when it has more than
/// twice the claims of any other (a single mistaken translation does not
/// take `República Dominicana` from the Dominican Republic, and two
/// countries a name fits equally keep it from both).
fn resolve(claims: &[(u8, String)]) -> Option<(u8, &str)> {
    let best = claims.iter().map(|(r, _)| *r).min()?;
    let winner = claims.iter().find(|(r, _)| *r == best).map(|(_, c)| c.as_str())?;
    if best <= AUTHORITATIVE {
        let tied = claims.iter().any(|(r, c)| *r == best && c != winner);
        return (!tied).then_some((best, winner));
    }
    let mut counts: BTreeMap<&str, (usize, u8)> = BTreeMap::new();
    for (rank, code) in claims {
        let e = counts.entry(code.as_str()).or_insert((0, *rank));
        e.0 += 1;
        e.1 = e.1.min(*rank);
    }
    let mut by_count: Vec<(&str, (usize, u8))> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)).then(a.0.cmp(b.0)));
    let (code, (count, rank)) = by_count[0];
    let second = by_count.get(1).map_or(0, |(_, (n, _))| *n);
    (count > 2 * second).then_some((rank, code))
}

#[expect(
    clippy::disallowed_methods,
    reason = "the build script writes the generated table; the crate's own code does no I/O"
)]
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/normalize/country_key.rs");
    println!("cargo:rerun-if-changed=src/normalize/aliases.rs");
    println!("cargo:rerun-if-changed=data/cldr-country-names.tsv");

    // key → every (rank, alpha-2) that claims it; codes and names apart.
    let mut codes: BTreeMap<String, Vec<(u8, String)>> = BTreeMap::new();
    let mut names: BTreeMap<String, Vec<(u8, String)>> = BTreeMap::new();
    let mut add = |name: &str, code: &str, rank: u8, variants: bool| {
        let table = if rank <= 2 { &mut codes } else { &mut names };
        let mut spellings = vec![(name.to_string(), rank)];
        if variants {
            // A name shortened by leaving a qualifier out is only an
            // alternative name.
            spellings.extend(
                country_name_variants(name).into_iter().map(|(n, short)| (n, if short { rank.max(6) } else { rank })),
            );
        }
        for (n, rank) in spellings {
            let key = country_key(&n);
            if !key.is_empty() {
                table.entry(key).or_default().push((rank, code.to_string()));
            }
            // `Is.` stands for island and islands alike, and keys as
            // `islands`: a name with `Island` is also keyed as if plural,
            // so `Heard Is. and McDonald Is.` finds Heard Island and
            // McDonald Islands.
            if n.split_whitespace().any(|w| w.eq_ignore_ascii_case("island")) {
                let plural: Vec<String> = n
                    .split_whitespace()
                    .map(|w| if w.eq_ignore_ascii_case("island") { "Islands".to_string() } else { w.to_string() })
                    .collect();
                let key = country_key(&plural.join(" "));
                if !key.is_empty() {
                    table.entry(key).or_default().push((rank.max(6), code.to_string()));
                }
            }
        }
    };

    for c in rust_iso3166::ALL {
        add(c.alpha2, c.alpha2, 0, false);
        add(c.alpha3, c.alpha2, 1, false);
        add(&format!("{:03}", c.numeric), c.alpha2, 2, false);
        add(c.name, c.alpha2, 3, true);
    }
    // Kosovo has no ISO 3166-1 entry: `XK` and `XKX` are the user-assigned
    // codes the European Commission, CLDR and most registries use, and its
    // names below resolve to `XK`, so the code reads back as well.
    add("XK", "XK", 0, false);
    add("XKX", "XK", 1, false);
    for alpha2 in keshvar::SUPPORTED_ALPHA2_LIST {
        let country = alpha2.to_country();
        let code = format!("{alpha2:?}");
        add(&code, &code, 0, false);
        add(&format!("{:?}", country.alpha3()), &code, 1, false);
        add(country.number(), &code, 2, false);
        add(country.iso_short_name(), &code, 3, true);
        add(country.iso_long_name(), &code, 4, true);
        for name in country.unofficial_name_list() {
            add(name, &code, 6, true);
        }
        // Sorted, so the table does not depend on hash order.
        let mut translations: Vec<(&str, &str)> = country.translations().iter().map(|(l, n)| (*l, *n)).collect();
        translations.sort_unstable();
        for (lang, name) in translations {
            add(name, &code, if lang == "en" { 7 } else { 8 }, true);
        }
    }
    for (name, code) in aliases::COUNTRY_ALIASES {
        add(name, code, 5, true);
    }
    // Every country's name in every modern CLDR locale, short and variant
    // forms included (data/cldr-country-names.tsv, generated from CLDR).
    // CLDR also names regions that are not ISO 3166-1 countries (the
    // Canary Islands `IC`, Ceuta and Melilla `EA`, …): those stay out.
    let assigned: std::collections::BTreeSet<&str> = rust_iso3166::ALL.iter().map(|c| c.alpha2).chain(["XK"]).collect();
    let cldr = include_str!("data/cldr-country-names.tsv");
    for line in cldr.lines().filter(|l| !l.starts_with('#')) {
        let mut cells = line.split('\t');
        if let (Some(name), Some(code), Some(locale)) = (cells.next(), cells.next(), cells.next())
            && assigned.contains(code)
        {
            add(name, code, if locale == "en" || locale.starts_with("en-") { 7 } else { 8 }, false);
        }
    }

    // Skeletons of the names whose keys hold combining marks (vowel signs):
    // kept only where every name with that skeleton is one country's.
    let mut skeletons: BTreeMap<String, Vec<(u8, String)>> = BTreeMap::new();
    for (key, claims) in &names {
        if let Some(bare) = skeleton(key) {
            skeletons.entry(bare).or_default().extend(claims.iter().map(|(_, c)| (8, c.clone())));
        }
    }
    skeletons.retain(|bare, claims| !names.contains_key(bare) && claims.iter().all(|(_, c)| *c == claims[0].1));

    let mut out = String::new();
    out.push_str("/// How a country key was recognised, by the index stored in the tables.\n");
    let _ = writeln!(out, "pub(crate) static COUNTRY_HOW: [&str; {}] = {HOW:?};", HOW.len());
    let mut ambiguous = 0;
    for (name, table) in [("COUNTRY_CODES", &codes), ("COUNTRY_NAMES", &names), ("COUNTRY_SKELETONS", &skeletons)] {
        let _ = writeln!(out, "/// `(key, ISO 3166-1 alpha-2, how)`, sorted by key; generated by `build.rs`.");
        let _ = writeln!(out, "pub(crate) static {name}: &[(&str, [u8; 2], u8)] = &[");
        for (key, claims) in table {
            match resolve(claims) {
                Some((rank, code)) => {
                    let _ = writeln!(out, "    ({key:?}, *b{code:?}, {rank}),");
                }
                None => ambiguous += 1,
            }
        }
        out.push_str("];\n");
    }
    let _ = writeln!(out, "// {ambiguous} keys were left out because they name more than one country.");
    let dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".to_string());
    if let Err(e) = std::fs::write(std::path::Path::new(&dir).join("countries.rs"), out) {
        println!("cargo:warning=cannot write the country table: {e}");
        std::process::exit(1);
    }
}
