//! Rule sets and cases for the benchmarks, generated deterministically so
//! every machine measures the same work.

use triage_core::{Case, CaseState, CompiledRules, Directory, compile_sources};

/// A tiny linear congruential generator: the same numbers on every machine.
#[derive(Debug)]
pub struct Lcg(u64);

impl Lcg {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Lcg(seed)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Compiles rule files given as `(name, text)`; a benchmark whose rules do
/// not compile stops with their diagnostics.
pub fn compile(sources: &[(&str, &str)]) -> CompiledRules {
    match compile_sources(sources) {
        (Some(rules), _) => rules,
        (None, diags) => {
            let shown: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic_free_abort(&shown.join("\n"))
        }
    }
}

/// Benchmarks cannot do anything useful with broken rules; say why and stop.
fn panic_free_abort(message: &str) -> ! {
    eprintln!("benchmark rules do not compile:\n{message}");
    std::process::exit(2)
}

/// The example rule set `rules/global-support` and its directory.
pub fn global_support() -> (CompiledRules, Directory) {
    let rules = compile(&EXAMPLE_FILES);
    let dir = Directory::from_text("directory.yaml", include_str!("../../rules/global-support/directory.yaml"))
        .unwrap_or_else(|e| panic_free_abort(&e.to_string()));
    (rules, dir)
}

/// The example rule files but assignment's, in load order.
const EXAMPLE_FILES: [(&str, &str); 10] = [
    ("00-settings.yaml", include_str!("../../rules/global-support/00-settings.yaml")),
    ("01-normalize.yaml", include_str!("../../rules/global-support/01-normalize.yaml")),
    ("04-calendars.yaml", include_str!("../../rules/global-support/04-calendars.yaml")),
    ("05-territories.yaml", include_str!("../../rules/global-support/05-territories.yaml")),
    ("10-categories.yaml", include_str!("../../rules/global-support/10-categories.yaml")),
    ("20-priority.yaml", include_str!("../../rules/global-support/20-priority.yaml")),
    ("30-tiers.yaml", include_str!("../../rules/global-support/30-tiers.yaml")),
    ("35-sla.yaml", include_str!("../../rules/global-support/35-sla.yaml")),
    ("40-knowledge.yaml", include_str!("../../rules/global-support/40-knowledge.yaml")),
    ("50-escalation.yaml", include_str!("../../rules/global-support/50-escalation.yaml")),
];

/// The example rules with every file (assignment too), as `triage serve
/// rules/global-support` loads them, and the example directory.
pub fn global_support_full() -> (CompiledRules, Directory) {
    let (_, dir) = global_support();
    let mut files = EXAMPLE_FILES.to_vec();
    files.push(("60-assignment.yaml", include_str!("../../rules/global-support/60-assignment.yaml")));
    (compile(&files), dir)
}

/// A case from JSON text.
pub fn case(json: &str) -> Case {
    Case::from_json(json).unwrap_or_else(|e| panic_free_abort(&e.to_string()))
}

const CHANNELS: [&str; 5] = ["email", "web", "phone", "chat", "slack"];
const REGIONS: [&str; 4] = ["emea", "amer", "apac", "latam"];
const TYPES: [&str; 6] = ["question", "incident", "problem", "task", "billing", "feedback"];
const SEVERITIES: [&str; 4] = ["sev1", "sev2", "sev3", "sev4"];

/// One generated field rule's values, to build cases that hit it.
#[derive(Debug, Clone)]
pub struct FieldRule {
    tier: u64,
    channel: &'static str,
    ticket_type: &'static str,
    severity: &'static str,
    region: &'static str,
    hours: (u64, u64),
}

/// `n` ordered rules with field conditions only (support level, channel,
/// ticket type, severity, zone, hours) and a default; every rule is distinct so
/// rule `k` is the first to match a case built from it.
pub fn field_rules(n: usize) -> (CompiledRules, Vec<FieldRule>) {
    let mut rng = Lcg::new(42);
    let mut yaml = String::from(
        "fields:\n  level: number\n  severity: { type: enum, values: [sev1, sev2, sev3, sev4] }\n  ticket_type: { type: enum, values: [question, incident, problem, task, billing, feedback] }\n  hours: number\n  zone: { type: enum, values: [emea, amer, apac, latam] }\ncategories:\n",
    );
    let mut specs = Vec::with_capacity(n);
    for i in 0..n {
        let lo = rng.below(20);
        let spec = FieldRule {
            tier: 1 + rng.below(3),
            channel: CHANNELS[rng.below(5) as usize],
            ticket_type: TYPES[rng.below(6) as usize],
            severity: SEVERITIES[rng.below(4) as usize],
            region: REGIONS[rng.below(4) as usize],
            // Distinct windows make each rule's cases its own.
            hours: (1000 + 10 * i as u64 + lo % 5, 1000 + 10 * i as u64 + 9),
        };
        yaml.push_str(&format!(
            "  - id: r{i}\n    when:\n      level: {}\n      channel: {}\n      ticket_type: {}\n      severity: {{ in: [{}, sev4] }}\n      zone: {}\n      hours: {{ between: [{}, {}] }}\n    set: {{ category: c{i}, priority: P{} }}\n",
            spec.tier,
            spec.channel,
            spec.ticket_type,
            spec.severity,
            spec.region,
            spec.hours.0,
            spec.hours.1,
            1 + i % 4
        ));
        specs.push(spec);
    }
    yaml.push_str("  - id: default\n    set: { category: other }\n");
    (compile(&[("fields.yaml", &yaml)]), specs)
}

/// A case that the generated field rule `spec` matches.
pub fn field_case(spec: &FieldRule) -> Case {
    case(&format!(
        r#"{{"id":"b","channel":"{}","fields":{{"zone":"{}","level":{},"ticket_type":"{}","severity":"{}","hours":{}}}}}"#,
        spec.channel, spec.region, spec.tier, spec.ticket_type, spec.severity, spec.hours.1
    ))
}

/// `n` keyword rules, each looking for two of `2n` made-up keywords or
/// phrases in the body, and a default.
pub fn keyword_rules(n: usize) -> (CompiledRules, Vec<String>) {
    let mut rng = Lcg::new(7);
    let syllables = ["ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "pe", "zu"];
    let mut words = Vec::with_capacity(2 * n);
    for i in 0..2 * n {
        let mut w = String::new();
        for _ in 0..3 {
            w.push_str(syllables[rng.below(10) as usize]);
        }
        // Every fourth keyword is a two-word phrase; the suffix keeps them distinct.
        if i % 4 == 0 {
            words.push(format!("{w} {}{i}", syllables[i % 10]));
        } else {
            words.push(format!("{w}{i}"));
        }
    }
    let mut yaml = String::from("categories:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - id: k{i}\n    when: {{ body: {{ contains_any: ['{}', '{}'] }} }}\n    set: {{ category: k{i} }}\n",
            words[2 * i],
            words[2 * i + 1]
        ));
    }
    yaml.push_str("  - id: default\n    set: { category: other }\n");
    (compile(&[("keywords.yaml", &yaml)]), words)
}

/// A body of about 2 KB of ordinary words with `keyword` near the end.
pub fn body_with(keyword: &str) -> String {
    let filler = "our team noticed that the export job keeps running longer than expected and the report arrives late \
                  every morning, which delays the review meeting with the regional managers ";
    let mut body = String::new();
    while body.len() < 1900 {
        body.push_str(filler);
    }
    body.push_str("and then ");
    body.push_str(keyword);
    body.push_str(" appeared in the log.");
    body
}

/// The example set's normalization data and territory tree with a single
/// default category, so a decision costs little beyond normalization and
/// territory stamping.
pub fn territory_only() -> CompiledRules {
    compile(&[
        ("01-normalize.yaml", include_str!("../../rules/global-support/01-normalize.yaml")),
        ("04-calendars.yaml", include_str!("../../rules/global-support/04-calendars.yaml")),
        ("05-territories.yaml", include_str!("../../rules/global-support/05-territories.yaml")),
        ("10-categories.yaml", "categories:\n  - id: general\n    set: { category: general }\n"),
    ])
}

/// `n` cases with varied, messy location data: names in several languages,
/// codes, regions, postal codes (some inconsistent), unknown countries.
pub fn varied_cases(n: usize) -> Vec<Case> {
    const COUNTRIES: [&str; 24] = [
        "Deutschland",
        "DEU",
        "germany ",
        "U.S.A.",
        "United States",
        "uk",
        "Österreich",
        "Schweiz",
        "日本",
        "Atlantis",
        "Sverige",
        "826",
        "Brasil",
        "south korea",
        "France",
        "FR",
        "España",
        "Australia",
        "Norge",
        "Kazakhstan",
        "CA",
        "México",
        "",
        "Suomi",
    ];
    const REGIONS: [&str; 8] = ["", "", "", "Bayern", "California", "DE-BY", "Ontario", "Narnia"];
    const POSTAL: [&str; 9] = ["", "10115", "80331", "20095", "10001", "94105-1234", "SW1A 1AA", "8001", "ABC"];
    const ACCOUNTS: [&str; 5] = ["", "acme-de", "globex", "initech-uk", "harman"];
    let mut rng = Lcg::new(99);
    (0..n)
        .map(|i| {
            let pick = |rng: &mut Lcg, list: &[&str]| {
                let s = list[rng.below(list.len() as u64) as usize];
                (!s.is_empty()).then(|| s.to_string())
            };
            Case {
                id: format!("v{i}"),
                country: pick(&mut rng, &COUNTRIES),
                region: pick(&mut rng, &REGIONS),
                postal_code: pick(&mut rng, &POSTAL),
                account: pick(&mut rng, &ACCOUNTS),
                subject: Some("Hello".into()),
                ..Default::default()
            }
        })
        .collect()
}

/// `n` accounts in trees up to five deep, with attributes set at varying
/// levels so inheritance has work to do.
pub fn accounts(n: usize) -> Vec<triage_core::Account> {
    let mut rng = Lcg::new(5);
    let mut out: Vec<triage_core::Account> = Vec::with_capacity(n);
    let mut depth = vec![0u32; n];
    for i in 0..n {
        let parent = if i < 100 || rng.below(10) == 0 { None } else { Some(rng.below(i as u64) as usize) };
        let parent = parent.filter(|&p| depth[p] < 4);
        depth[i] = parent.map_or(0, |p| depth[p] + 1);
        let mut a = triage_core::Account {
            id: format!("acct-{i}"),
            parent: parent.map(|p| format!("acct-{p}")),
            ..Default::default()
        };
        match rng.below(4) {
            0 => a.entitlement = Some(["gold", "platinum", "silver"][rng.below(3) as usize].to_string()),
            1 => a.strategic = Some(rng.below(2) == 0),
            2 => a.segment = Some(["enterprise", "smb", "mid-market"][rng.below(3) as usize].to_string()),
            _ => {}
        }
        out.push(a);
    }
    out
}

/// An open case's history of `events` events over working days: replies
/// back and forth, waits on the customer, a priority change, a reopen.
/// Seeds vary the case, its account and the timing.
pub fn history(seed: u64, events: usize) -> CaseState {
    const ACCOUNTS: [&str; 5] = ["acme-de", "harman", "globex", "smallco", "acme-us"];
    const COUNTRIES: [&str; 5] = ["DE", "US", "GB", "JP", "BR"];
    const SUBJECTS: [&str; 4] =
        ["API is down for all our users", "Invoice is wrong", "How do I export data?", "Login fails after reset"];
    let mut rng = Lcg::new(seed);
    let start: i64 = 1_772_438_400 + rng.below(5 * 86_400) as i64;
    let iso = rfc3339;
    let mut list = vec![format!(r#"{{"at": "{}", "kind": "created"}}"#, iso(start))];
    let mut t = start;
    let mut waiting = false;
    let mut solved = false;
    for _ in 1..events {
        t += 60 * (5 + rng.below(180) as i64);
        let e = match rng.below(10) {
            0..=2 => "\"kind\": \"agent_replied\"".to_string(),
            3..=5 => "\"kind\": \"customer_replied\"".to_string(),
            6 => {
                waiting = !waiting;
                let s = if waiting { "waiting_on_customer" } else { "open" };
                format!("\"kind\": \"status_changed\", \"status\": \"{s}\"")
            }
            7 => {
                solved = !solved;
                let s = if solved { "solved" } else { "open" };
                format!("\"kind\": \"status_changed\", \"status\": \"{s}\"")
            }
            8 => format!("\"kind\": \"priority_changed\", \"priority\": \"P{}\"", 1 + rng.below(4)),
            _ => "\"kind\": \"assigned\", \"team\": \"tier1\"".to_string(),
        };
        list.push(format!(r#"{{"at": "{}", {e}}}"#, iso(t)));
    }
    let json = format!(
        r#"{{"case": {{"id": "h{seed}", "number": {seed}, "created_at": "{}", "subject": "{}", "country": "{}", "account": "{}", "product": "api"}}, "events": [{}]}}"#,
        iso(start),
        SUBJECTS[rng.below(4) as usize],
        COUNTRIES[rng.below(5) as usize],
        ACCOUNTS[rng.below(5) as usize],
        list.join(", ")
    );
    CaseState::from_json(&json).unwrap_or_else(|e| panic_free_abort(&e.to_string()))
}

/// `n` open cases with histories of 0 to 12 events.
pub fn open_cases(n: usize) -> Vec<CaseState> {
    let mut rng = Lcg::new(7);
    (0..n).map(|i| history(i as u64, 1 + rng.below(12) as usize)).collect()
}

/// RFC 3339 for a Unix instant, UTC.
fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().to_rfc3339()
}

/// A directory of `agents` agents over 20 regional teams (territories of
/// the example set), with varied skills, languages, loads and presence.
pub fn roster(agents: usize) -> Directory {
    let (teams, agents) = roster_parts(agents);
    Directory::new().with_roster(teams, agents).unwrap_or_else(|e| panic_free_abort(&e.to_string()))
}

/// A directory file (JSON, which is also YAML) with `agents` agents over
/// 20 teams and `accounts` accounts in a hierarchy: what a caller loads at
/// start-up.
pub fn directory_text(agents: usize, accounts: usize) -> String {
    let (teams, agents) = roster_parts(agents);
    let doc = serde_json::json!({ "accounts": self::accounts(accounts), "teams": teams, "agents": agents });
    doc.to_string()
}

/// The same roster with every agent at `capacity` units and no load.
pub fn roster_with_capacity(agents: usize, capacity: i64) -> Directory {
    let (teams, mut agents) = roster_parts(agents);
    for a in &mut agents {
        a.capacity = capacity;
        a.load = 0;
    }
    Directory::new().with_roster(teams, agents).unwrap_or_else(|e| panic_free_abort(&e.to_string()))
}

/// The same roster with every agent at `capacity` units, no load, and a
/// phone case costing 3 units: the setting where the optimal plan is a
/// generalized assignment problem.
pub fn roster_with_phone_units(agents: usize, capacity: i64) -> Directory {
    let (teams, mut agents) = roster_parts(agents);
    for a in &mut agents {
        a.capacity = capacity;
        a.load = 0;
        a.channel_units = std::collections::BTreeMap::from([("phone".to_string(), 3)]);
    }
    Directory::new().with_roster(teams, agents).unwrap_or_else(|e| panic_free_abort(&e.to_string()))
}

/// [`assignable_cases`] with every third case by phone.
pub fn assignable_cases_mixed(n: usize) -> Vec<Case> {
    let mut cases = assignable_cases(n);
    for c in cases.iter_mut().step_by(3) {
        c.channel = Some("phone".into());
    }
    cases
}

fn roster_parts(agents: usize) -> (Vec<triage_core::Team>, Vec<triage_core::Agent>) {
    const TERRITORIES: [&str; 5] = ["amer", "emea", "apac", "latam", "dach"];
    const LANGS: [&str; 6] = ["en", "de", "fr", "es", "ja", "pt"];
    const SKILLS: [&str; 9] =
        ["billing", "incident", "api", "debugging", "mobile", "security", "database", "account", "performance"];
    let mut rng = Lcg::new(11);
    let teams: Vec<triage_core::Team> = (0..20)
        .map(|i| triage_core::Team {
            id: format!("team-{i:02}").into(),
            territories: vec![TERRITORIES[i % 5].to_string()],
            tiers: vec![1 + (i / 5 % 3) as u8],
            strategy: [
                triage_core::Strategy::LeastLoaded,
                triage_core::Strategy::RoundRobin,
                triage_core::Strategy::MostSkilled,
                triage_core::Strategy::Weighted,
            ][i % 4],
            queue: Some(format!("queue-{i:02}").into()),
            ..triage_core::Team::default()
        })
        .collect();
    let agents: Vec<triage_core::Agent> = (0..agents)
        .map(|i| {
            let mut skills = std::collections::BTreeMap::new();
            for _ in 0..5 {
                skills.insert(SKILLS[rng.below(9) as usize].to_string(), rng.below(11) as u8);
            }
            triage_core::Agent {
                id: format!("agent-{i:05}").into(),
                teams: vec![format!("team-{:02}", i % 20)],
                languages: vec!["en".into(), LANGS[rng.below(6) as usize].into()],
                skills,
                capacity: 8 + rng.below(5) as i64,
                load: rng.below(8) as i64,
                presence: if rng.below(10) == 0 { triage_core::Presence::Away } else { triage_core::Presence::Online },
                ..triage_core::Agent::default()
            }
        })
        .collect();
    (teams, agents)
}

/// The example rules with the given directory's teams in play.
pub fn assignment_rules() -> CompiledRules {
    let (rules, _) = global_support();
    rules
}

/// `n` cases spread over territories, languages and categories.
pub fn assignable_cases(n: usize) -> Vec<Case> {
    const COUNTRIES: [&str; 6] = ["US", "DE", "JP", "BR", "FR", "GB"];
    const LANGS: [&str; 5] = ["en", "de", "ja", "pt", "fr"];
    const SUBJECTS: [&str; 4] = [
        "Invoice is wrong, charged twice",
        "The API returns 500 errors on every call",
        "The app crashes on start",
        "Dashboard is slow since the update",
    ];
    let mut rng = Lcg::new(5);
    (0..n)
        .map(|i| Case {
            id: format!("a{i}"),
            channel: Some("email".into()),
            country: Some(COUNTRIES[rng.below(6) as usize].into()),
            subject: Some(SUBJECTS[rng.below(4) as usize].into()),
            requester: Some(triage_core::Requester {
                language: Some(LANGS[rng.below(5) as usize].into()),
                ..Default::default()
            }),
            ..Case::default()
        })
        .collect()
}

/// One row of the canonical routing table: each condition `None`/empty
/// means "any".
#[derive(Debug, Clone)]
pub struct RouteRow {
    /// ISO country codes, any of which matches.
    pub countries: Vec<&'static str>,
    /// The customer segment.
    pub segment: Option<&'static str>,
    /// The product.
    pub product: Option<&'static str>,
    /// Priorities, any of which matches.
    pub priorities: Vec<&'static str>,
    /// Affected users, an inclusive range.
    pub users: Option<(u32, u32)>,
    /// The team the row routes to.
    pub team: String,
}

const COUNTRIES: &[&str] = &[
    "DE", "FR", "GB", "US", "CA", "BR", "JP", "IN", "AU", "ES", "IT", "NL", "SE", "PL", "MX", "AR", "ZA", "NG", "KR",
    "CN",
];
const SEGMENTS: &[&str] = &["smb", "mid", "enterprise"];
const PRODUCTS: &[&str] = &["api", "billing", "mobile", "web", "analytics", "sso"];
const PRIORITIES: &[&str] = &["P1", "P2", "P3", "P4"];

/// The canonical routing table with `n` rows (the last one catches the
/// rest), the same on every machine for a seed.
pub fn routing_rows(n: usize, seed: u64) -> Vec<RouteRow> {
    let mut g = Lcg::new(seed);
    let mut rows = Vec::with_capacity(n);
    for i in 0..n.saturating_sub(1) {
        let mut countries = Vec::new();
        if g.below(4) != 0 {
            for _ in 0..=g.below(3) {
                let c = COUNTRIES[g.below(COUNTRIES.len() as u64) as usize];
                if !countries.contains(&c) {
                    countries.push(c);
                }
            }
        }
        let segment = (g.below(2) == 0).then(|| SEGMENTS[g.below(3) as usize]);
        let product = (g.below(3) != 0).then(|| PRODUCTS[g.below(PRODUCTS.len() as u64) as usize]);
        let mut priorities = Vec::new();
        if g.below(2) == 0 {
            for _ in 0..=g.below(2) {
                let p = PRIORITIES[g.below(4) as usize];
                if !priorities.contains(&p) {
                    priorities.push(p);
                }
            }
        }
        let users = (g.below(3) == 0).then(|| {
            let lo = g.below(500) as u32;
            (lo, lo + g.below(500) as u32)
        });
        rows.push(RouteRow { countries, segment, product, priorities, users, team: format!("team-{}", i % 37) });
    }
    rows.push(RouteRow {
        countries: Vec::new(),
        segment: None,
        product: None,
        priorities: Vec::new(),
        users: None,
        team: "fallback".to_string(),
    });
    rows
}

/// The routing table as a triage `assignment` table (plus the declarations
/// it needs).
pub fn routing_yaml(rows: &[RouteRow]) -> String {
    let list = |items: &[&str]| if items.is_empty() { "-".to_string() } else { items.join(", ") };
    let mut out = String::from(
        "fields:\n  segment: { type: enum, values: [smb, mid, enterprise] }\n  affected_users: number\ncategories:\n  - id: general\n    set: { category: general }\nassignment:\n  - id: routing\n    table:\n      hit: first\n      inputs: [country, segment, product, priority, affected_users]\n      outputs: [team]\n      rows: |\n",
    );
    for (i, r) in rows.iter().enumerate() {
        let users = r.users.map_or("-".to_string(), |(lo, hi)| format!("[{lo}..{hi}]"));
        out.push_str(&format!(
            "        r{i}: {} | {} | {} | {} | {} => {}\n",
            list(&r.countries),
            r.segment.unwrap_or("-"),
            r.product.unwrap_or("-"),
            list(&r.priorities),
            users,
            r.team
        ));
    }
    out
}

/// The routing table with two more inputs, `min_users` and `max_users`;
/// with `every = Some(k)`, every `k`-th row that tests the number of users
/// compares it with them (`[min_users..max_users]`) instead of literal
/// bounds, so the cost of cells naming inputs is measured against the same
/// table without them (`None`).
pub fn routing_rules_with_bounds(rows: &[RouteRow], every: Option<usize>) -> CompiledRules {
    let yaml = routing_yaml(rows)
        .replace("  affected_users: number\n", "  affected_users: number\n  min_users: number\n  max_users: number\n")
        .replace("affected_users]", "affected_users, min_users, max_users]");
    let mut out = String::new();
    for line in yaml.lines() {
        match line.split_once(" => ") {
            Some((cells, team)) if line.starts_with("        r") => {
                let i: usize = cells[9..].split(':').next().and_then(|n| n.parse().ok()).unwrap_or(1);
                let cells = match (every, cells.rfind('[')) {
                    (Some(k), Some(at)) if i.is_multiple_of(k) => format!("{}[min_users..max_users]", &cells[..at]),
                    _ => cells.to_string(),
                };
                out.push_str(&format!("{cells} | - | - => {team}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    compile(&[("routing.yaml", &out)])
}

/// A compiled rule set holding only the routing table.
pub fn routing_rules(rows: &[RouteRow]) -> CompiledRules {
    compile(&[("routing.yaml", &routing_yaml(rows))])
}

/// `n` seeded inputs of the routing table, as JSON objects.
pub fn routing_inputs(n: usize, seed: u64) -> Vec<serde_json::Value> {
    let mut g = Lcg::new(seed);
    (0..n)
        .map(|_| {
            serde_json::json!({
                "country": COUNTRIES[g.below(COUNTRIES.len() as u64) as usize],
                "segment": SEGMENTS[g.below(3) as usize],
                "product": PRODUCTS[g.below(PRODUCTS.len() as u64) as usize],
                "priority": PRIORITIES[g.below(4) as usize],
                "affected_users": g.below(1000),
            })
        })
        .collect()
}

/// The input that row `k` of `rows` matches with its own values (the
/// first of each list, the low end of the range, or fixed values for
/// "any"); earlier rows may match it too.
pub fn routing_input_for(row: &RouteRow) -> serde_json::Value {
    serde_json::json!({
        "country": row.countries.first().copied().unwrap_or("ZZ"),
        "segment": row.segment.unwrap_or("mid"),
        "product": row.product.unwrap_or("none"),
        "priority": row.priorities.first().copied().unwrap_or("P3"),
        "affected_users": row.users.map_or(0, |(lo, _)| lo),
    })
}

/// Rule sets and histories that once took tens of seconds, for the
/// `hostile` benchmark: each is a file name and its YAML text.
pub mod hostile {
    /// One `contains_any` of `n` keywords that extend one another
    /// (`kw1, kw10, kw100…` among them), and a default rule.
    pub fn prefix_keywords(n: usize) -> String {
        let words: Vec<String> = (1..=n).map(|i| format!("kw{i}")).collect();
        categories(&format!("subject: {{ contains_any: [{}] }}", words.join(", ")))
    }

    /// One phrase of `bytes` bytes repeating `ab `.
    pub fn periodic_phrase(bytes: usize) -> String {
        let phrase = "ab ".repeat(bytes / 3);
        categories(&format!("subject: {{ contains: \"{}\" }}", phrase.trim()))
    }

    fn categories(when: &str) -> String {
        format!(
            "categories:\n  - id: hostile\n    when: {{ {when} }}\n    set: {{ category: hostile }}\n  - id: general\n    set: {{ category: general }}\n"
        )
    }

    /// A history of one case of the example rule set whose priority moves
    /// between P1 and P3 `changes` times (each change selects another SLA
    /// policy), ten seconds apart.
    pub fn policy_changes(changes: usize) -> triage_core::CaseState {
        let start: i64 = 1_772_438_400;
        let mut events = vec![format!(r#"{{"at": "{}", "kind": "created"}}"#, super::rfc3339(start))];
        for i in 0..changes {
            let p = if i % 2 == 0 { "P1" } else { "P3" };
            let at = super::rfc3339(start + 10 * (i as i64 + 1));
            events.push(format!(r#"{{"at": "{at}", "kind": "priority_changed", "priority": "{p}"}}"#));
        }
        let json = format!(
            r#"{{"case": {{"id": "h1", "created_at": "{}", "subject": "API is down", "country": "DE", "account": "acme-de", "product": "api"}}, "events": [{}]}}"#,
            super::rfc3339(start),
            events.join(", ")
        );
        triage_core::CaseState::from_json(&json).unwrap_or_else(|e| super::panic_free_abort(&e.to_string()))
    }

    /// Compiles one file, stopping the benchmark when it does not compile.
    pub fn compile(yaml: &str) -> triage_core::CompiledRules {
        super::compile(&[("hostile.yaml", yaml)])
    }
}
