//! Properties of assignment: capacity is never exceeded, the order agents
//! are listed in changes nothing, the same input gives the same plan, and
//! round robin spreads equal cases evenly.

use crate::{Agent, BatchMode, Case, CompiledRules, Directory, Options, Team, assign_batch, compile_sources};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const RULES: &str = r#"
categories:
  - id: billing
    when: { text: { contains: invoice } }
    set: { category: billing, priority: P2, skills: [billing] }
  - id: general
    set: { category: general, priority: P3 }
assignment:
  - id: billing-desk
    when: { category: billing }
    team: desk
    skills: [{ skill: billing, min_level: 3 }]
  - id: rest
    team: desk
"#;

fn rules() -> &'static CompiledRules {
    static ONCE: OnceLock<CompiledRules> = OnceLock::new();
    ONCE.get_or_init(|| compile_sources(&[("r.yaml", RULES)]).0.unwrap())
}

fn now() -> DateTime<Utc> {
    "2026-03-02T10:00:00Z".parse().unwrap()
}

fn agent_strategy() -> impl Strategy<Value = Agent> {
    (0i64..6, 0i64..6, 0u8..10, prop::bool::weighted(0.8), prop::option::of(1i64..4)).prop_map(
        |(cap, load, billing, online, phone)| Agent {
            teams: vec!["desk".into()],
            skills: BTreeMap::from([("billing".to_string(), billing)]),
            capacity: cap,
            load: load.min(cap),
            presence: if online { crate::Presence::Online } else { crate::Presence::Offline },
            channel_units: phone.map(|u| BTreeMap::from([("phone".to_string(), u)])).unwrap_or_default(),
            ..Agent::default()
        },
    )
}

fn roster(mut agents: Vec<Agent>, strategy: crate::Strategy) -> (Vec<Team>, Vec<Agent>) {
    for (i, a) in agents.iter_mut().enumerate() {
        a.id = format!("agent-{i:02}").into();
    }
    let team = Team { id: "desk".into(), strategy, queue: Some("desk-queue".into()), ..Team::default() };
    (vec![team], agents)
}

fn cases(n: usize, seed: u64) -> Vec<Case> {
    (0..n)
        .map(|i| Case {
            id: format!("c{i:03}"),
            channel: Some(if (seed + i as u64).is_multiple_of(3) { "phone" } else { "email" }.into()),
            subject: Some(if (seed + i as u64).is_multiple_of(2) { "invoice wrong" } else { "hello" }.into()),
            ..Case::default()
        })
        .collect()
}

fn strategy_strategy() -> impl Strategy<Value = crate::Strategy> {
    prop::sample::select(vec![
        crate::Strategy::LeastLoaded,
        crate::Strategy::RoundRobin,
        crate::Strategy::MostSkilled,
        crate::Strategy::Weighted,
    ])
}

fn plan(dir: &Directory, cs: &[Case]) -> Vec<(String, Option<String>, Option<String>)> {
    plan_in(dir, cs, BatchMode::Greedy)
}

fn plan_in(dir: &Directory, cs: &[Case], mode: BatchMode) -> Vec<(String, Option<String>, Option<String>)> {
    assign_batch(rules(), cs, dir, now(), mode, &Options::default())
        .into_iter()
        .map(|d| (d.case_id, d.agent.map(String::from), d.queue.map(String::from)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the strategy, no agent ends a batch over capacity, and only
    /// online agents with the mandatory skill are chosen.
    #[test]
    fn greedy_never_exceeds_capacity(agents in prop::collection::vec(agent_strategy(), 1..8), n in 1usize..30, seed in 0u64..5, strategy in strategy_strategy()) {
        let (teams, agents) = roster(agents, strategy);
        let dir = Directory::new().with_roster(teams, agents).unwrap();
        let cs = cases(n, seed);
        let out = assign_batch(rules(), &cs, &dir, now(), BatchMode::Greedy, &Options::default());
        let mut used: BTreeMap<String, i64> = BTreeMap::new();
        for (d, c) in out.iter().zip(&cs) {
            if let Some(id) = &d.agent {
                let a = dir.agents().iter().find(|a| &a.id == id).unwrap();
                prop_assert_eq!(a.presence, crate::Presence::Online);
                if d.category == "billing" {
                    prop_assert!(a.skills["billing"] >= 3);
                }
                *used.entry(id.to_string()).or_insert(a.load) += a.units(c.channel.as_deref());
            }
        }
        for (id, total) in used {
            let a = dir.agents().iter().find(|a| a.id == id).unwrap();
            prop_assert!(total <= a.capacity, "{} at {} of {}", id, total, a.capacity);
        }
    }

    /// Listing the agents in another order changes nothing.
    #[test]
    fn agent_order_does_not_matter(agents in prop::collection::vec(agent_strategy(), 1..8), n in 1usize..20, seed in 0u64..5, strategy in strategy_strategy(), rotate in 0usize..8) {
        let (teams, agents) = roster(agents, strategy);
        let mut shuffled = agents.clone();
        let k = rotate % shuffled.len();
        shuffled.rotate_left(k);
        shuffled.reverse();
        let a = Directory::new().with_roster(teams.clone(), agents).unwrap();
        let b = Directory::new().with_roster(teams, shuffled).unwrap();
        let cs = cases(n, seed);
        prop_assert_eq!(plan(&a, &cs), plan(&b, &cs));
        prop_assert_eq!(plan_in(&a, &cs, BatchMode::Optimal), plan_in(&b, &cs, BatchMode::Optimal));
    }

    /// The same input gives the same plan.
    #[test]
    fn assignment_is_deterministic(agents in prop::collection::vec(agent_strategy(), 1..8), n in 1usize..20, seed in 0u64..5, strategy in strategy_strategy()) {
        let (teams, agents) = roster(agents, strategy);
        let dir = Directory::new().with_roster(teams, agents).unwrap();
        let cs = cases(n, seed);
        prop_assert_eq!(plan(&dir, &cs), plan(&dir, &cs));
        prop_assert_eq!(plan_in(&dir, &cs, BatchMode::Optimal), plan_in(&dir, &cs, BatchMode::Optimal));
    }

    /// Round robin gives N equal cases to k equal agents within one of N/k
    /// each.
    #[test]
    fn round_robin_spreads_evenly(k in 1usize..7, n in 0usize..40) {
        let agents = (0..k)
            .map(|_| Agent { teams: vec!["desk".into()], capacity: 100, ..Agent::default() })
            .collect();
        let (teams, agents) = roster(agents, crate::Strategy::RoundRobin);
        let dir = Directory::new().with_roster(teams, agents).unwrap();
        let cs: Vec<Case> = (0..n).map(|i| Case { id: format!("c{i:03}"), ..Case::default() }).collect();
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for (_, agent, _) in plan(&dir, &cs) {
            *count.entry(agent.unwrap()).or_default() += 1;
        }
        let (lo, hi) = (n / k, n.div_ceil(k));
        for c in count.values() {
            prop_assert!(*c >= lo && *c <= hi, "{count:?}");
        }
    }
}

/// Cases that all come by e-mail, so each agent's cases cost it the same
/// units: the setting in which the flow is exact.
fn email_cases(n: usize, seed: u64) -> Vec<Case> {
    cases(n, seed).into_iter().map(|c| Case { channel: Some("email".into()), ..c }).collect()
}

/// Units taken per agent, checked against capacity.
fn within_capacity(dir: &Directory, cs: &[Case], out: &[crate::Decision]) -> Result<(), String> {
    let mut used: BTreeMap<&str, i64> = BTreeMap::new();
    for (d, c) in out.iter().zip(cs) {
        if let Some(id) = &d.agent {
            let a = dir.agents().iter().find(|a| &a.id == id).unwrap();
            *used.entry(&a.id).or_insert(a.load) += a.units(c.channel.as_deref());
        }
    }
    for (id, total) in used {
        let a = dir.agents().iter().find(|a| a.id == id).unwrap();
        if total > a.capacity {
            return Err(format!("{id} at {total} of {}", a.capacity));
        }
    }
    Ok(())
}

fn total_score(out: &[crate::Decision]) -> i64 {
    out.iter().filter_map(|d| d.assignment.as_ref()).map(|a| a.score).sum()
}

/// The best total score over every way of giving each case one of its
/// candidates or nobody, within capacities and window caps.
fn brute_force(dir: &Directory, cs: &[Case]) -> i64 {
    let decided: Vec<crate::Decision> =
        cs.iter().map(|c| crate::triage(rules(), c, &Directory::new(), now(), &Options::default())).collect();
    let lists: Vec<Vec<crate::assign::Candidate>> =
        cs.iter().zip(&decided).map(|(c, d)| crate::assign::candidates(rules(), c, d, dir, now())).collect();
    fn go(i: usize, lists: &[Vec<crate::assign::Candidate>], dir: &Directory, used: &mut Vec<(i64, u32)>) -> i64 {
        if i == lists.len() {
            return 0;
        }
        let mut best = go(i + 1, lists, dir, used);
        for c in &lists[i] {
            let a = &dir.agents()[c.agent];
            let (units, count) = used[c.agent];
            let fits = a.load + units + c.units <= a.capacity && a.window.is_none_or(|w| w.used + count < w.max);
            if fits {
                used[c.agent] = (units + c.units, count + 1);
                best = best.max(c.score + go(i + 1, lists, dir, used));
                used[c.agent] = (units, count);
            }
        }
        best
    }
    go(0, &lists, dir, &mut vec![(0, 0); dir.agents().len()])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The optimal plan never overfills an agent, and when every case
    /// costs an agent the same units it is the flow's own plan and scores
    /// at least what the greedy plan does.
    #[test]
    fn optimal_respects_capacity_and_beats_greedy(agents in prop::collection::vec(agent_strategy(), 1..8), n in 1usize..30, seed in 0u64..5, strategy in strategy_strategy(), uniform in prop::bool::ANY) {
        let (teams, agents) = roster(agents, strategy);
        let dir = Directory::new().with_roster(teams, agents).unwrap();
        let cs = if uniform { email_cases(n, seed) } else { cases(n, seed) };
        let optimal = assign_batch(rules(), &cs, &dir, now(), BatchMode::Optimal, &Options::default());
        let greedy = assign_batch(rules(), &cs, &dir, now(), BatchMode::Greedy, &Options::default());
        prop_assert_eq!(within_capacity(&dir, &cs, &optimal), Ok(()));
        prop_assert!(total_score(&optimal) >= total_score(&greedy));
        if uniform {
            let kept_greedy = optimal.iter().flat_map(|d| &d.trace).any(|t| t.why.as_deref().is_some_and(|w| w.contains("greedy plan is kept")));
            prop_assert!(!kept_greedy);
        }
    }

    /// On small instances the optimal plan's score is the best any
    /// assignment within capacities reaches.
    #[test]
    fn optimal_equals_brute_force(agents in prop::collection::vec(agent_strategy(), 1..=4), n in 1usize..=6, seed in 0u64..5, window in prop::option::of(0u32..3)) {
        let (teams, mut agents) = roster(agents, crate::Strategy::LeastLoaded);
        if let Some(max) = window {
            agents[0].window = Some(crate::WindowCap { max, used: 0 });
        }
        let dir = Directory::new().with_roster(teams, agents).unwrap();
        let cs = email_cases(n, seed);
        let optimal = assign_batch(rules(), &cs, &dir, now(), BatchMode::Optimal, &Options::default());
        prop_assert_eq!(total_score(&optimal), brute_force(&dir, &cs));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// With mixed units (phone cases cost some agents more), the optimal
    /// plan is the best any assignment within capacities reaches, and says
    /// it is proven.
    #[test]
    fn optimal_with_mixed_units_equals_brute_force(agents in prop::collection::vec(agent_strategy(), 1..=3), n in 1usize..=6, seed in 0u64..5, window in prop::option::of(0u32..3)) {
        let (teams, mut agents) = roster(agents, crate::Strategy::LeastLoaded);
        if let Some(max) = window {
            agents[0].window = Some(crate::WindowCap { max, used: 0 });
        }
        let dir = Directory::new().with_roster(teams, agents).unwrap();
        let cs = cases(n, seed);
        let plan = crate::assign_batch_plan(rules(), &cs, &dir, now(), BatchMode::Optimal, &Options::default());
        prop_assert_eq!(within_capacity(&dir, &cs, &plan.decisions), Ok(()));
        let best = brute_force(&dir, &cs);
        prop_assert_eq!(total_score(&plan.decisions), best);
        let quality = plan.quality.unwrap();
        prop_assert!(quality.optimal, "{:?}", quality);
        prop_assert_eq!((quality.score, quality.bound), (best, best));
    }
}

#[test]
fn a_phone_case_gives_way_to_two_emails_that_score_more() {
    // One agent with 3 spare units; a phone case costs 3, an e-mail 1. The
    // phone case is a billing case (weight and skill raise its score), the
    // e-mails are not: which plan wins is the scores' sum.
    let agent = Agent {
        id: "ann".into(),
        teams: vec!["desk".into()],
        skills: BTreeMap::from([("billing".to_string(), 3)]),
        capacity: 3,
        channel_units: BTreeMap::from([("phone".to_string(), 3)]),
        ..Agent::default()
    };
    let (teams, agents) = roster(vec![agent], crate::Strategy::LeastLoaded);
    let dir = Directory::new().with_roster(teams, agents).unwrap();
    let case = |id: &str, channel: &str, subject: &str| Case {
        id: id.into(),
        channel: Some(channel.into()),
        subject: Some(subject.into()),
        ..Case::default()
    };
    let cs = vec![case("phone", "phone", "hello"), case("mail-1", "email", "hello"), case("mail-2", "email", "hello")];
    let plan = crate::assign_batch_plan(rules(), &cs, &dir, now(), BatchMode::Optimal, &Options::default());
    let placed: Vec<Option<&str>> = plan.decisions.iter().map(|d| d.agent.as_deref()).collect();
    assert_eq!(placed, [None, Some("agent-00"), Some("agent-00")]);
    assert_eq!(total_score(&plan.decisions), brute_force(&dir, &cs));
    let quality = plan.quality.unwrap();
    assert_eq!((quality.method, quality.optimal), ("milp", true));
}

#[test]
fn among_identical_cases_the_optimal_plan_serves_the_most_urgent() {
    // Room for one phone case (3 units) and one e-mail; three identical
    // phone cases: the oldest is served.
    let agent = Agent {
        teams: vec!["desk".into()],
        capacity: 4,
        channel_units: BTreeMap::from([("phone".to_string(), 3)]),
        ..Agent::default()
    };
    let (teams, agents) = roster(vec![agent], crate::Strategy::LeastLoaded);
    let dir = Directory::new().with_roster(teams, agents).unwrap();
    let case = |id: &str, channel: &str, minute: u32| Case {
        id: id.into(),
        channel: Some(channel.into()),
        created_at: Some(format!("2026-03-02T09:{minute:02}:00Z").parse().unwrap()),
        ..Case::default()
    };
    // Input order is not age order.
    let cs = vec![case("p3", "phone", 30), case("p1", "phone", 10), case("p2", "phone", 15), case("m1", "email", 5)];
    let plan = crate::assign_batch_plan(rules(), &cs, &dir, now(), BatchMode::Optimal, &Options::default());
    let served: Vec<&str> = plan.decisions.iter().filter(|d| d.agent.is_some()).map(|d| d.case_id.as_str()).collect();
    assert_eq!(served, ["p1", "m1"]);
    assert!(plan.quality.unwrap().optimal);
}

#[test]
fn among_equal_optimal_plans_a_least_loaded_team_spreads_the_cases() {
    let agents = (0..3).map(|_| Agent { teams: vec!["desk".into()], capacity: 6, ..Agent::default() }).collect();
    let (teams, agents) = roster(agents, crate::Strategy::LeastLoaded);
    let dir = Directory::new().with_roster(teams, agents).unwrap();
    let cs: Vec<Case> =
        (0..6).map(|i| Case { id: format!("c{i}"), channel: Some("email".into()), ..Case::default() }).collect();
    for mode in [BatchMode::Greedy, BatchMode::Optimal] {
        let mut per_agent: BTreeMap<String, usize> = BTreeMap::new();
        for (_, agent, _) in plan_in(&dir, &cs, mode) {
            *per_agent.entry(agent.unwrap()).or_default() += 1;
        }
        assert_eq!(per_agent.values().copied().collect::<Vec<_>>(), [2, 2, 2], "{mode:?}");
    }
    // With mixed units the solver's second pass spreads too.
    let phones: Vec<Case> = (0..6)
        .map(|i| Case {
            id: format!("p{i}"),
            channel: Some(if i < 3 { "phone" } else { "email" }.into()),
            ..Case::default()
        })
        .collect();
    let agents = (0..3)
        .map(|_| Agent {
            teams: vec!["desk".into()],
            capacity: 9,
            channel_units: BTreeMap::from([("phone".to_string(), 2)]),
            ..Agent::default()
        })
        .collect();
    let (teams, agents) = roster(agents, crate::Strategy::LeastLoaded);
    let dir = Directory::new().with_roster(teams, agents).unwrap();
    let mut units: BTreeMap<String, i64> = BTreeMap::new();
    for d in assign_batch(rules(), &phones, &dir, now(), BatchMode::Optimal, &Options::default()) {
        let a = d.assignment.unwrap();
        *units.entry(a.agent.unwrap().to_string()).or_default() += a.units;
    }
    assert_eq!(units.values().copied().collect::<Vec<_>>(), [3, 3, 3]);
    // Unequal capacities: the same share of each, as greedy least_loaded
    // gives (four agents of 10 units and one of 20, twelve cases).
    let agents = [10, 10, 10, 10, 20]
        .into_iter()
        .map(|capacity| Agent { teams: vec!["desk".into()], capacity, ..Agent::default() })
        .collect();
    let (teams, agents) = roster(agents, crate::Strategy::LeastLoaded);
    let dir = Directory::new().with_roster(teams, agents).unwrap();
    let cs: Vec<Case> =
        (0..12).map(|i| Case { id: format!("s{i:02}"), channel: Some("email".into()), ..Case::default() }).collect();
    for mode in [BatchMode::Greedy, BatchMode::Optimal] {
        let mut per_agent: BTreeMap<String, usize> = BTreeMap::new();
        for (_, agent, _) in plan_in(&dir, &cs, mode) {
            *per_agent.entry(agent.unwrap()).or_default() += 1;
        }
        assert_eq!(per_agent.values().copied().collect::<Vec<_>>(), [2, 2, 2, 2, 4], "{mode:?}");
    }
}

const SHIFTS: &str = r#"
calendars:
  - id: mornings
    timezone: UTC
    hours: { mon-fri: ["08:00-12:00"] }
  - id: evenings
    timezone: UTC
    hours: { mon-fri: ["16:00-22:00"] }
categories:
  - id: general
    set: { category: general }
"#;

fn pick_some(pool: &'static [&'static str], mask: u8) -> Vec<String> {
    pool.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| s.to_string()).collect()
}

fn varied_agent() -> impl Strategy<Value = Agent> {
    ((0u8..8, 0u8..8, 0u8..4, 0u8..3), (0u8..4, 0u8..4, 0u8..11, 0u8..11), (0i64..4, 0i64..4, 0u8..3)).prop_map(
        |((teams, territories, languages, products), (has, shift, l1, l2), (cap, load, presence))| {
            let mut skills = BTreeMap::new();
            if has & 1 != 0 {
                skills.insert("api".to_string(), l1);
            }
            if has & 2 != 0 {
                skills.insert("billing".to_string(), l2);
            }
            Agent {
                teams: {
                    let t = pick_some(&["north", "south", "west"], teams);
                    if t.is_empty() { vec!["north".to_string()] } else { t }
                },
                territories: pick_some(&["amer", "emea", "apac"], territories),
                languages: pick_some(&["en", "de"], languages),
                products: pick_some(&["cloud", "edge"], products),
                skills,
                shift: [None, Some("mornings"), Some("evenings"), Some("mornings")][usize::from(shift)].map(Into::into),
                capacity: cap,
                load: load.min(cap),
                presence: [crate::Presence::Online, crate::Presence::Away, crate::Presence::Offline]
                    [usize::from(presence)],
                ..Agent::default()
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The bitset index and a plain scan of every member with
    /// `failing_filter` find the same eligible agents.
    #[test]
    fn index_agrees_with_scan(
        mut agents in prop::collection::vec(varied_agent(), 1..24),
        territory in 0u8..4, language in 0u8..3, product in 0u8..3,
        skill in (0u8..3, 0u8..12, prop::bool::ANY), hour in 0u32..24,
    ) {
        let rules = compile_sources(&[("s.yaml", SHIFTS)]).0.unwrap();
        for (i, a) in agents.iter_mut().enumerate() {
            a.id = format!("a{i:02}").into();
        }
        let teams = vec![
            Team { id: "north".into(), languages: vec!["en".into()], calendar: Some("mornings".into()), ..Team::default() },
            Team { id: "south".into(), calendar: Some("evenings".into()), ..Team::default() },
            Team { id: "west".into(), ..Team::default() },
        ];
        let dir = Directory::new().with_roster(teams, agents).unwrap();
        let path: [Vec<std::borrow::Cow<str>>; 4] = [vec![], vec!["amer".into()], vec!["emea".into(), "emea-dach".into()], vec!["apac".into()]];
        let (name, level, mandatory) = skill;
        let need = crate::assign::Need {
            territory_path: path[usize::from(territory)].clone(),
            language: [None, Some("en"), Some("de")][usize::from(language)].map(Into::into),
            product: [None, Some("cloud"), Some("edge")][usize::from(product)].map(Into::into),
            skills: [None, Some("api"), Some("billing")][usize::from(name)]
                .map(|s| crate::assign::NeedSkill { skill: s.into(), min_level: level, mandatory })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let at: DateTime<Utc> = format!("2026-03-03T{hour:02}:30:00Z").parse().unwrap();
        for (indexed, scanned) in crate::assign::eligible_two_ways(&rules, &dir, &need, at) {
            prop_assert_eq!(indexed, scanned);
        }
    }
}

#[test]
fn directory_errors_name_the_team_or_agent() {
    let team = |id: &str, overflow: Option<&str>| Team {
        id: id.into(),
        overflow: overflow.map(Into::into),
        ..Team::default()
    };
    let agent =
        |id: &str, team: &str| Agent { id: id.into(), teams: vec![team.into()], capacity: 1, ..Agent::default() };
    let huge = Agent { capacity: i64::MAX, load: i64::MAX - 1, ..agent("big", "desk") };
    let e = Directory::new().with_roster(vec![team("desk", None)], vec![huge]).unwrap_err().to_string();
    assert!(e.contains("number-out-of-range") && e.contains("capacity is 9223372036854775807"), "{e}");
    let e = Directory::new().with_roster(vec![team("a", Some("b")), team("b", Some("a"))], vec![]).unwrap_err();
    assert!(e.to_string().contains("teams overflow in a loop: a → b → a"), "{e}");
    let e = Directory::new().with_roster(vec![team("desk", None)], vec![agent("x", "dessk")]).unwrap_err();
    assert_eq!(e.to_string(), "error[unknown-team]: agent `x` names unknown team `dessk` (help: did you mean `desk`?)");
    let e = Directory::new()
        .with_roster(vec![team("desk", None)], vec![agent("x", "desk"), agent("x", "desk")])
        .unwrap_err();
    assert_eq!(e.to_string(), "error[duplicate-agent]: agent `x` is listed twice");
    let mut neg = agent("y", "desk");
    neg.capacity = -1;
    let e = Directory::new().with_roster(vec![team("desk", None)], vec![neg]).unwrap_err();
    assert!(e.to_string().contains("cannot be negative"), "{e}");
}

/// A directory file reports every problem, each at its line and column,
/// with a suggestion where one can be made.
#[test]
fn directory_file_reports_every_problem_in_place() {
    let text = "\
skills: [billing, incident]
teams:
  - { id: desk, overflow: nights }
  - { id: nights, overflow: desk, tiers: [1, 5] }
agents:
  - { id: ann, teams: [dessk], capacity: 2, skills: { biling: 3 } }
  - { id: bob, teams: [desk], capacity: -1, load: 0, skills: { incident: 12 } }
  - { id: ann, teams: [desk], capacity: 1 }
  - { id: cy, teams: [desk], capacity: many }
acounts: []
";
    let Err(crate::DirectoryError::Invalid(diags)) = Directory::from_text("dir.yaml", text) else {
        panic!("the directory should be refused")
    };
    let got: Vec<(u32, u32, &str)> = diags.iter().map(|d| (d.line, d.column, d.code)).collect();
    let want = [
        (10, 1, "unknown-key"),
        (9, 40, "invalid-entry"),
        (4, 46, "tier-out-of-range"),
        (3, 27, "overflow-loop"),
        (6, 24, "unknown-team"),
        (6, 55, "unknown-skill"),
        (7, 41, "negative-capacity"),
        (7, 74, "level-out-of-range"),
        (8, 11, "duplicate-agent"),
    ];
    assert_eq!(got, want, "{diags:#?}");
    assert_eq!(diags[0].help.as_deref(), Some("did you mean `accounts`?"));
    assert_eq!(diags[4].help.as_deref(), Some("did you mean `desk`?"));
    assert_eq!(diags[5].help.as_deref(), Some("did you mean `billing`?"));
    assert!(diags[1].message.starts_with("agent `cy`: `capacity`:"), "{}", diags[1].message);
}
