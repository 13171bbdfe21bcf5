//! The directory: data the caller owns and passes in — accounts and their
//! hierarchy, support teams and agents with their live state (presence,
//! load). The core never fetches it and never changes it.

use crate::diag::{Diagnostic, Pos, Severity};
use crate::name::Name;
use crate::roster::TeamIndex;
use crate::syntax::{self, Key, Node, NodeKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One customer account as the caller describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Unique id, referred to by `Case::account`.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Parent account id (Harman → JBL → JBL Professional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Segment, e.g. `enterprise`, `smb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Whether the account is strategic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategic: Option<bool>,
    /// Support entitlement, e.g. `platinum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    /// Preferred language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Home country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// A territory id that overrides territory matching for this account's
    /// cases (and, unless they set their own, its descendants').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory: Option<String>,
    /// Further attributes, read by rules as `account.<name>` once declared.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// An account with every attribute resolved from the nearest ancestor that
/// sets it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResolvedAccount {
    pub account: Account,
    /// Ids from the root down to this account.
    /// Shared with the ancestors' paths: 100,000 accounts resolve without
    /// copying every ancestor's id into every descendant.
    pub path: Vec<std::sync::Arc<str>>,
}

/// Everything the core needs to know about the organisation and customers.
///
/// ```
/// use triage_core::{Account, Directory};
/// let dir = Directory::from_accounts(vec![
///     Account { id: "harman".into(), strategic: Some(true), ..Default::default() },
///     Account { id: "jbl".into(), parent: Some("harman".into()), ..Default::default() },
/// ]).unwrap();
/// assert_eq!(dir.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    /// Shared: a directory with live agent state (see
    /// [`Directory::with_agent_state`]) reuses the accounts it was built from.
    accounts: std::sync::Arc<BTreeMap<String, ResolvedAccount>>,
    /// Teams, sorted by id.
    pub(crate) teams: Vec<Team>,
    /// Agents, sorted by id.
    pub(crate) agents: Vec<Agent>,
    /// For each team (same order), its agents' indices in id order.
    pub(crate) members: Vec<Vec<usize>>,
    /// For each team, its overflow team's index.
    pub(crate) overflow: Vec<Option<usize>>,
    /// For each team, its members indexed for the assignment filters.
    pub(crate) index: Vec<TeamIndex>,
    /// The skills a directory file declares, when it does.
    pub(crate) skills: Option<Vec<String>>,
}

/// How a team picks among its eligible agents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Most spare capacity relative to capacity.
    #[default]
    LeastLoaded,
    /// Least recently assigned: fair for fast and slow agents alike.
    RoundRobin,
    /// Highest summed level of the required and optional skills.
    MostSkilled,
    /// Declared weights over spare capacity, skill and idle time.
    Weighted,
}

impl Strategy {
    /// The strategy's name in directory files.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::LeastLoaded => "least_loaded",
            Strategy::RoundRobin => "round_robin",
            Strategy::MostSkilled => "most_skilled",
            Strategy::Weighted => "weighted",
        }
    }
}

/// Weights of the `weighted` strategy; each signal is scaled to 0–1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Spare capacity relative to capacity.
    #[serde(default)]
    pub spare: f64,
    /// Skill levels of the case's skills, relative to the maximum.
    #[serde(default)]
    pub skill: f64,
    /// Time since the last assignment, up to eight hours.
    #[serde(default)]
    pub idle: f64,
}

/// A support team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// Unique id, named by `assignment` rules.
    pub id: Name,
    /// Territory ids the team serves (and their descendants); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub territories: Vec<String>,
    /// Tiers the team works; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<u8>,
    /// Categories the team handles; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Products the team handles; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
    /// Languages the team speaks; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// A calendar of the rules: the team's working hours, the default shift
    /// of its agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// The team that takes cases nobody here can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<String>,
    /// The queue cases wait in when no agent can take them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Name>,
    /// How an agent is picked.
    #[serde(default)]
    pub strategy: Strategy,
    /// For `weighted`.
    #[serde(default, deserialize_with = "crate::object::optional", skip_serializing_if = "Option::is_none")]
    pub weights: Option<Weights>,
}

/// Whether an agent can take work now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Working and taking cases.
    #[default]
    Online,
    /// Logged in but not taking cases.
    Away,
    /// Not working.
    Offline,
}

/// An assignment cap over a window the caller tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowCap {
    /// Most cases in the window.
    pub max: u32,
    /// Cases already assigned in it.
    #[serde(default)]
    pub used: u32,
}

/// A support agent and their live state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// Unique id.
    pub id: Name,
    /// Teams the agent works in.
    pub teams: Vec<String>,
    /// Skill levels, 0 to 10.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skills: BTreeMap<String, u8>,
    /// Languages spoken; empty: the team's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// Products known; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
    /// Territories, narrowing the team's; empty: the team's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub territories: Vec<String>,
    /// Capacity in units.
    pub capacity: i64,
    /// Units a case costs per channel (default 1): a chat may cost 1, a
    /// phone call the whole capacity.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channel_units: BTreeMap<String, i64>,
    /// Units in use now.
    #[serde(default)]
    pub load: i64,
    /// Online, away or offline.
    #[serde(default)]
    pub presence: Presence,
    /// A calendar of the rules for the agent's shift; default: the team's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<String>,
    /// When the agent last got a case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_assigned_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// An optional cap per window.
    #[serde(default, deserialize_with = "crate::object::optional", skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowCap>,
}

impl Agent {
    /// Units a case on `channel` costs this agent.
    pub fn units(&self, channel: Option<&str>) -> i64 {
        self.units_lower(channel.map(|c| c.trim().to_lowercase()).as_deref())
    }

    /// [`Agent::units`] for a channel already trimmed and lower-cased.
    pub(crate) fn units_lower(&self, channel: Option<&str>) -> i64 {
        if self.channel_units.is_empty() {
            return 1;
        }
        channel.and_then(|c| self.channel_units.get(c)).copied().unwrap_or(1)
    }
}

/// A directory that cannot be used, naming what is wrong.
/// Deepest account hierarchy: an account at most this many levels below
/// its root. Each account keeps its path from the root, so a chain of
/// 100,000 accounts would keep five billion names.
pub const MAX_ACCOUNT_DEPTH: usize = 64;

/// A chain of ids as `a → b → c`, its middle left out when it is long.
fn chain_text(ids: &[String]) -> String {
    if ids.len() <= 12 {
        return ids.join(" → ");
    }
    let head = ids[..6].join(" → ");
    let tail = ids[ids.len() - 5..].join(" → ");
    format!("{head} → … ({} more) … → {tail}", ids.len() - 11)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Two accounts share an id.
    #[error("account `{0}` is listed twice")]
    DuplicateAccount(String),
    /// An account names a parent that does not exist.
    #[error("account `{account}` names unknown parent `{parent}`")]
    UnknownParent {
        /// The child.
        account: String,
        /// The missing parent.
        parent: String,
    },
    /// Parents loop back.
    #[error("accounts form a cycle: {}", chain_text(.0))]
    Cycle(Vec<String>),
    /// An account sits deeper below its root than [`MAX_ACCOUNT_DEPTH`].
    #[error(
        "account `{account}` is more than {MAX_ACCOUNT_DEPTH} levels below its root account (its parents: {}); \
         an account hierarchy may be at most {MAX_ACCOUNT_DEPTH} levels deep",
        chain_text(.chain)
    )]
    TooDeep {
        /// The account.
        account: String,
        /// Its ancestors, root first.
        chain: Vec<String>,
    },
    /// Teams, agents or a directory file with problems: every one of
    /// them, each with its position when the directory came from a file.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(diags: &[Diagnostic]) -> String {
    let lines: Vec<String> = diags
        .iter()
        .map(|d| {
            let mut line =
                if d.line == 0 { format!("{}[{}]: {}", d.severity, d.code, d.message) } else { d.to_string() };
            if let Some(h) = &d.help {
                line.push_str(&format!(" (help: {h})"));
            }
            line
        })
        .collect();
    lines.join("\n")
}

/// A directory file read without positions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default, deserialize_with = "crate::object::list")]
    accounts: Vec<Account>,
    #[serde(default, deserialize_with = "crate::object::list")]
    teams: Vec<Team>,
    #[serde(default, deserialize_with = "crate::object::list")]
    agents: Vec<Agent>,
    #[serde(default)]
    skills: Option<Vec<String>>,
}

/// Top-level keys of a directory file.
const SECTIONS: [&str; 4] = ["accounts", "teams", "agents", "skills"];

/// Where in a directory a problem is: a list, an entry's place in it (as
/// given), and a path inside the entry.
#[derive(Debug, Clone)]
struct Problem {
    list: &'static str,
    index: usize,
    path: Vec<Seg>,
    code: &'static str,
    message: String,
    help: Option<String>,
}

/// One step of a path into a YAML node.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Item(usize),
    /// A mapping key itself rather than its value (a misspelt name).
    KeyName(String),
}

impl Problem {
    fn new(list: &'static str, index: usize, path: Vec<Seg>, code: &'static str, message: String) -> Problem {
        Problem { list, index, path, code, message, help: None }
    }

    fn suggesting(mut self, wrong: &str, known: &[&str]) -> Problem {
        self.help = crate::diag::did_you_mean(wrong, known.iter().copied());
        self
    }

    /// The diagnostic, positioned in `root` when the directory came from a
    /// file.
    fn diagnostic(&self, file: &str, root: Option<&Node>) -> Diagnostic {
        let mut path = vec![Seg::Key(self.list.to_string()), Seg::Item(self.index)];
        path.extend(self.path.iter().cloned());
        let pos = root.map_or(Pos::default(), |r| locate(r, &path));
        let d = Diagnostic::custom(self.code, Severity::Error, file, pos, self.message.clone());
        match &self.help {
            Some(h) => d.with_help(h.clone()),
            None => d,
        }
    }
}

/// The position of the deepest node along `path` that exists.
fn locate(root: &Node, path: &[Seg]) -> Pos {
    let mut node = root;
    for (i, seg) in path.iter().enumerate() {
        let next = match seg {
            Seg::Item(n) => match &node.kind {
                NodeKind::Seq(items) => items.get(*n),
                _ => None,
            },
            Seg::KeyName(k) => return entry(node, k).map_or(node.pos, |(key, _)| key.pos),
            Seg::Key(k) => match entry(node, k) {
                // A key's own position is more telling than its value's
                // when the value is a collection.
                Some((key, v)) if i + 1 == path.len() && matches!(v.kind, NodeKind::Map(_) | NodeKind::Seq(_)) => {
                    return key.pos;
                }
                found => found.map(|(_, v)| v),
            },
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node.pos
}

/// The entry under `key` when `node` is a mapping.
fn entry<'n>(node: &'n Node, key: &str) -> Option<&'n (Key, Node)> {
    match &node.kind {
        NodeKind::Map(m) => m.iter().find(|(k, _)| k.name == key),
        _ => None,
    }
}

/// The value under `key` when `node` is a mapping.
fn locate_key<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    entry(node, key).map(|(_, v)| v)
}

/// Every problem with these teams and agents, in the order given: unknown
/// or duplicate ids, overflow loops, tiers off the scale, negative
/// capacities or loads, levels above 10, channel costs below 1, and, when
/// the file declares its skills, skills it does not declare.
fn roster_problems(teams: &[Team], agents: &[Agent], skills: Option<&[String]>) -> Vec<Problem> {
    let mut out = Vec::new();
    let key = |k: &str| vec![Seg::Key(k.to_string())];
    let mut team_ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, t) in teams.iter().enumerate() {
        if team_ids.contains_key(t.id.as_str()) {
            out.push(Problem::new("teams", i, key("id"), "duplicate-team", format!("team `{}` is listed twice", t.id)));
        } else {
            team_ids.insert(&t.id, i);
        }
    }
    let known: Vec<&str> = team_ids.keys().copied().collect();
    for (i, t) in teams.iter().enumerate() {
        if let Some(j) = t.tiers.iter().position(|&x| x > 3) {
            let message = format!("team `{}`: tier {} is off the scale; tiers are 0 to 3", t.id, t.tiers[j]);
            out.push(Problem::new(
                "teams",
                i,
                vec![Seg::Key("tiers".into()), Seg::Item(j)],
                "tier-out-of-range",
                message,
            ));
        }
        if let Some(o) = &t.overflow
            && !team_ids.contains_key(o.as_str())
        {
            let message = format!("team `{}` overflows to unknown team `{o}`", t.id);
            out.push(Problem::new("teams", i, key("overflow"), "unknown-team", message).suggesting(o, &known));
        }
    }
    // Overflow chains must end; each loop is reported once, at its
    // smallest team id. Each team is walked once (a team leads to at most
    // one other), so a chain of thousands of teams costs no more than its
    // length.
    let mut walked = vec![0u8; teams.len()]; // 0 not yet, 1 on this walk, 2 done
    let mut loops: Vec<(usize, String)> = Vec::new();
    for start in 0..teams.len() {
        let mut walk: Vec<usize> = Vec::new();
        let mut cur = Some(start);
        while let Some(i) = cur {
            match walked[i] {
                0 => {
                    walked[i] = 1;
                    walk.push(i);
                    cur = teams[i].overflow.as_deref().and_then(|o| team_ids.get(o).copied());
                }
                1 => {
                    let from = walk.iter().position(|&w| w == i).unwrap_or(0);
                    let cycle = &walk[from..];
                    let first =
                        (0..cycle.len()).min_by(|&a, &b| teams[cycle[a]].id.cmp(&teams[cycle[b]].id)).unwrap_or(0);
                    let mut names: Vec<&str> =
                        cycle[first..].iter().chain(&cycle[..first]).map(|&c| teams[c].id.as_str()).collect();
                    names.push(names[0]);
                    loops.push((cycle[first], format!("teams overflow in a loop: {}", names.join(" → "))));
                    break;
                }
                _ => break,
            }
        }
        walk.iter().for_each(|&w| walked[w] = 2);
    }
    loops.sort();
    for (i, message) in loops {
        out.push(Problem::new("teams", i, key("overflow"), "overflow-loop", message));
    }
    let mut agent_ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, a) in agents.iter().enumerate() {
        let problem =
            |path: Vec<Seg>, code: &'static str, message: String| Problem::new("agents", i, path, code, message);
        if agent_ids.insert(&a.id, i).is_some() {
            out.push(problem(key("id"), "duplicate-agent", format!("agent `{}` is listed twice", a.id)));
        }
        if a.teams.is_empty() {
            out.push(problem(key("teams"), "no-team", format!("agent `{}` belongs to no team", a.id)));
        }
        let mut listed = std::collections::BTreeSet::new();
        for (j, t) in a.teams.iter().enumerate() {
            let path = vec![Seg::Key("teams".into()), Seg::Item(j)];
            if !team_ids.contains_key(t.as_str()) {
                let message = format!("agent `{}` names unknown team `{t}`", a.id);
                out.push(problem(path, "unknown-team", message).suggesting(t, &known));
            } else if !listed.insert(t.as_str()) {
                // Listed twice, the agent would count twice in the team.
                let message = format!("agent `{}` lists team `{t}` twice", a.id);
                out.push(problem(path, "duplicate-team", message));
            }
        }
        for (field, value) in [("capacity", a.capacity), ("load", a.load)] {
            if value < 0 {
                let message = format!("agent `{}`: {field} is {value}; it cannot be negative", a.id);
                out.push(problem(key(field), "negative-capacity", message));
            } else if value > MAX_UNITS {
                // Sums over every agent must stay far inside the integers.
                let message = format!("agent `{}`: {field} is {value}; at most {MAX_UNITS} units", a.id);
                out.push(problem(key(field), "number-out-of-range", message));
            }
        }
        for (skill, level) in &a.skills {
            let path = vec![Seg::Key("skills".into()), Seg::Key(skill.clone())];
            if *level > 10 {
                let message = format!("agent `{}`: skill `{skill}` has level {level}; levels are 0 to 10", a.id);
                out.push(problem(path.clone(), "level-out-of-range", message));
            }
            if let Some(declared) = skills
                && !declared.iter().any(|d| d == skill)
            {
                let message = format!("agent `{}` has skill `{skill}`, which `skills:` does not declare", a.id);
                let names: Vec<&str> = declared.iter().map(String::as_str).collect();
                let path = vec![Seg::Key("skills".into()), Seg::KeyName(skill.clone())];
                out.push(problem(path, "unknown-skill", message).suggesting(skill, &names));
            }
        }
        for (channel, units) in &a.channel_units {
            if *units < 1 || *units > MAX_UNITS {
                let message =
                    format!("agent `{}`: a `{channel}` case must cost from 1 to {MAX_UNITS} units, not {units}", a.id);
                let path = vec![Seg::Key("channel_units".into()), Seg::Key(channel.clone())];
                out.push(problem(path, "bad-units", message));
            }
        }
    }
    out
}

/// The most units an agent's capacity, load or one case's cost may be: far
/// beyond any real desk, and small enough that sums over a million agents
/// cannot overflow.
pub const MAX_UNITS: i64 = 1_000_000;

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Directory::default()
    }

    /// Builds a directory, resolving the account hierarchy. Cycles and
    /// unknown parents are errors naming the accounts.
    pub fn from_accounts(mut accounts: Vec<Account>) -> Result<Directory, DirectoryError> {
        // Sorted once: duplicates sit side by side and parents are found by
        // binary search, so resolution below works on indices only.
        accounts.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        if let Some(w) = accounts.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(DirectoryError::DuplicateAccount(w[0].id.clone()));
        }
        let mut parent_of = Vec::with_capacity(accounts.len());
        for a in &accounts {
            parent_of.push(match &a.parent {
                None => None,
                Some(p) => match accounts.binary_search_by(|x| x.id.as_str().cmp(p)) {
                    Ok(i) => Some(i),
                    Err(_) => return Err(DirectoryError::UnknownParent { account: a.id.clone(), parent: p.clone() }),
                },
            });
        }
        // Each account is resolved once, from its already-resolved parent:
        // walk up only to the first resolved ancestor, then come back down.
        let mut resolved: Vec<Option<ResolvedAccount>> = vec![None; accounts.len()];
        let mut on_chain = vec![false; accounts.len()];
        let mut chain: Vec<usize> = Vec::new();
        for start in 0..accounts.len() {
            chain.clear();
            let mut cur = Some(start);
            while let Some(i) = cur.filter(|&i| resolved[i].is_none()) {
                if on_chain[i] {
                    let from = chain.iter().position(|&c| c == i).unwrap_or(0);
                    let mut ids: Vec<String> = chain[from..].iter().map(|&c| accounts[c].id.clone()).collect();
                    ids.push(accounts[i].id.clone());
                    return Err(DirectoryError::Cycle(ids));
                }
                on_chain[i] = true;
                chain.push(i);
                cur = parent_of[i];
            }
            for &i in chain.iter().rev() {
                on_chain[i] = false;
                // Each account is resolved once, so it is moved, not copied.
                let mut merged = std::mem::take(&mut accounts[i]);
                let mut path = Vec::new();
                if let Some(parent) = parent_of[i].and_then(|p| resolved[p].as_ref()) {
                    inherit(&mut merged, &parent.account);
                    path.extend(parent.path.iter().cloned());
                }
                path.push(std::sync::Arc::from(merged.id.as_str()));
                if path.len() > MAX_ACCOUNT_DEPTH + 1 {
                    let chain = path.iter().take(path.len() - 1).map(|p| p.to_string()).collect();
                    return Err(DirectoryError::TooDeep { account: merged.id, chain });
                }
                resolved[i] = Some(ResolvedAccount { account: merged, path });
            }
        }
        // Already in id order: the map is built in one pass.
        let accounts = resolved.into_iter().flatten().map(|r| (r.account.id.clone(), r)).collect();
        Ok(Directory { accounts: std::sync::Arc::new(accounts), ..Directory::default() })
    }

    /// The directory with these teams and agents. Every problem —
    /// duplicates, unknown teams, overflow loops, negative capacities or
    /// loads, skill levels above 10 — is reported, naming the team or agent.
    pub fn with_roster(self, teams: Vec<Team>, agents: Vec<Agent>) -> Result<Directory, DirectoryError> {
        let problems = roster_problems(&teams, &agents, None);
        if !problems.is_empty() {
            return Err(DirectoryError::Invalid(problems.iter().map(|p| p.diagnostic("", None)).collect()));
        }
        Ok(self.build_roster(teams, agents))
    }

    /// Sorts, normalizes and indexes teams and agents already checked.
    fn build_roster(mut self, mut teams: Vec<Team>, mut agents: Vec<Agent>) -> Directory {
        teams.sort_by(|a, b| a.id.cmp(&b.id));
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        let find = |id: &str| teams.binary_search_by(|t| t.id.as_str().cmp(id)).ok();
        let overflow: Vec<Option<usize>> = teams.iter().map(|t| t.overflow.as_deref().and_then(find)).collect();
        let mut members = vec![Vec::new(); teams.len()];
        for (ai, a) in agents.iter().enumerate() {
            for t in &a.teams {
                if let Some(i) = find(t) {
                    members[i].push(ai);
                }
            }
        }
        for a in &mut agents {
            a.channel_units =
                std::mem::take(&mut a.channel_units).into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
            for list in [&mut a.languages, &mut a.products, &mut a.territories] {
                for x in list.iter_mut() {
                    *x = x.trim().to_lowercase();
                }
            }
        }
        for t in &mut teams {
            for list in [&mut t.languages, &mut t.products, &mut t.territories, &mut t.categories] {
                for x in list.iter_mut() {
                    *x = x.trim().to_lowercase();
                }
            }
        }
        self.index = teams.iter().zip(&members).map(|(t, m)| TeamIndex::build(t, &agents, m)).collect();
        self.teams = teams;
        self.agents = agents;
        self.members = members;
        self.overflow = overflow;
        self
    }

    /// The directory as it is now: each agent's load (units in use) and
    /// presence replaced by what `live` says of it (`None`: as the
    /// directory file says). The accounts are shared, not copied; the
    /// teams' indexes are rebuilt, so this costs time in the number of
    /// agents. A service that keeps agents' live state in a store decides
    /// on this.
    pub fn with_agent_state(&self, mut live: impl FnMut(&Agent) -> Option<(i64, Presence)>) -> Directory {
        let mut agents = self.agents.clone();
        for a in &mut agents {
            if let Some((load, presence)) = live(a) {
                a.load = load.max(0);
                a.presence = presence;
            }
        }
        let index = self.teams.iter().zip(&self.members).map(|(t, m)| TeamIndex::build(t, &agents, m)).collect();
        Directory { agents, index, ..self.clone_without_agents() }
    }

    /// A copy sharing the accounts, without agents or team indexes.
    fn clone_without_agents(&self) -> Directory {
        Directory {
            accounts: self.accounts.clone(),
            teams: self.teams.clone(),
            agents: Vec::new(),
            members: self.members.clone(),
            overflow: self.overflow.clone(),
            index: Vec::new(),
            skills: self.skills.clone(),
        }
    }

    /// The number of agents.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// The teams, in id order.
    pub fn teams(&self) -> &[Team] {
        &self.teams
    }

    /// The agents, in id order.
    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    pub(crate) fn team_index(&self, id: &str) -> Option<usize> {
        self.teams.binary_search_by(|t| t.id.as_str().cmp(id)).ok()
    }

    /// Reads a directory from YAML or JSON text: `accounts`, `teams`,
    /// `agents` and, optionally, `skills` (the skill names agents may
    /// have). Every problem is reported with its line and column.
    ///
    /// ```
    /// use triage_core::Directory;
    /// let text = "teams: [{ id: desk }]\nagents:\n  - { id: ann, teams: [dsk], capacity: -1 }\n";
    /// let e = Directory::from_text("d.yaml", text).unwrap_err().to_string();
    /// assert!(e.contains("d.yaml:3:24: error[unknown-team]"), "{e}");
    /// assert!(e.contains("d.yaml:3:40: error[negative-capacity]"), "{e}");
    /// ```
    pub fn from_text(file: &str, text: &str) -> Result<Directory, DirectoryError> {
        // A JSON export (the usual form at scale) is read straight into
        // the types; only when it has a problem is it read again with
        // positions, to say where.
        if text.trim_start().starts_with('{')
            && let Ok(parsed) = serde_json::from_str::<DirectoryFile>(text)
            && account_problems(&parsed.accounts).is_empty()
            && roster_problems(&parsed.teams, &parsed.agents, parsed.skills.as_deref()).is_empty()
            && let Ok(mut dir) = Directory::from_accounts(parsed.accounts)
        {
            dir.skills = parsed.skills;
            return Ok(dir.build_roster(parsed.teams, parsed.agents));
        }
        // A JSON file whose JSON is broken is told so in JSON's terms (YAML
        // would accept a trailing comma and report other things). JSON is a
        // `.json` file, or one that opens with `{"` (a YAML flow mapping
        // such as `{teams: …}` stays YAML).
        let body = text.trim_start().strip_prefix('{').map(str::trim_start);
        let json = file.to_ascii_lowercase().ends_with(".json") || body.is_some_and(|b| b.starts_with('"'));
        if json
            && text.trim_start().starts_with('{')
            && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text)
            && matches!(e.classify(), serde_json::error::Category::Syntax | serde_json::error::Category::Eof)
        {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message);
            let pos = crate::diag::Pos::new(
                u32::try_from(e.line()).unwrap_or(u32::MAX),
                u32::try_from(e.column()).unwrap_or(u32::MAX),
            );
            let d = Diagnostic::custom("json-syntax", Severity::Error, file, pos, format!("invalid JSON: {message}"))
                .with_help("a directory file is JSON (starting with `{`) or YAML");
            return Err(DirectoryError::Invalid(vec![d]));
        }
        let node = syntax::parse(file, text).map_err(|d| DirectoryError::Invalid(vec![*d]))?;
        Directory::from_node(file, &node)
    }

    /// Builds a directory from an already-parsed document.
    pub(crate) fn from_node(file: &str, root: &Node) -> Result<Directory, DirectoryError> {
        let mut diags = Vec::new();
        let entries: &[(Key, Node)] = match &root.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => &[],
            _ => {
                let d = Diagnostic::wrong_type(file, root.pos, "a directory", "a mapping", &root.describe());
                return Err(DirectoryError::Invalid(vec![d]));
            }
        };
        for (key, _) in entries.iter().filter(|(k, _)| !SECTIONS.contains(&k.name.as_str())) {
            let d = Diagnostic::custom(
                "unknown-key",
                Severity::Error,
                file,
                key.pos,
                format!("unknown key `{}` in a directory", key.name),
            );
            let help = crate::diag::did_you_mean(&key.name, SECTIONS);
            diags.push(match help {
                Some(h) => d.with_help(h),
                None => d.with_help("a directory has `accounts`, `teams`, `agents` and `skills`"),
            });
        }
        let section = |name: &str| entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);
        let accounts: Vec<Account> = entries_of(file, section("accounts"), "account", &mut diags);
        let teams: Vec<Team> = entries_of(file, section("teams"), "team", &mut diags);
        let agents: Vec<Agent> = entries_of(file, section("agents"), "agent", &mut diags);
        let skills: Option<Vec<String>> = section("skills").and_then(|n| match serde_json::from_value(n.to_json()) {
            Ok(list) => Some(list),
            Err(_) => {
                diags.push(Diagnostic::wrong_type(file, n.pos, "`skills`", "a list of skill names", &n.describe()));
                None
            }
        });
        for p in account_problems(&accounts).iter().chain(&roster_problems(&teams, &agents, skills.as_deref())) {
            diags.push(p.diagnostic(file, Some(root)));
        }
        if !diags.is_empty() {
            return Err(DirectoryError::Invalid(diags));
        }
        let mut dir = Directory::from_accounts(accounts).map_err(|e| match e {
            DirectoryError::Cycle(ref ids) => {
                // Found in the document rather than kept from the list,
                // which the hierarchy consumed.
                let index = section("accounts")
                    .and_then(|list| match &list.kind {
                        NodeKind::Seq(items) => items.iter().position(|item| {
                            locate_key(item, "id").and_then(Node::scalar_text).as_deref() == Some(ids[0].as_str())
                        }),
                        _ => None,
                    })
                    .unwrap_or(0);
                let p =
                    Problem::new("accounts", index, vec![Seg::Key("parent".into())], "account-cycle", e.to_string());
                DirectoryError::Invalid(vec![p.diagnostic(file, Some(root))])
            }
            other => other,
        })?;
        dir.skills = skills;
        Ok(dir.build_roster(teams, agents))
    }

    /// The number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub(crate) fn account(&self, id: &str) -> Option<&ResolvedAccount> {
        self.accounts.get(id)
    }
}

/// Each entry of a directory list, read on its own so that one bad entry
/// does not hide the problems of the others.
fn entries_of<T: serde::de::DeserializeOwned>(
    file: &str,
    list: Option<&Node>,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<T> {
    let Some(list) = list else { return Vec::new() };
    let items = match &list.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => return Vec::new(),
        _ => {
            diags.push(Diagnostic::wrong_type(file, list.pos, &format!("the {what}s"), "a list", &list.describe()));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match serde_path_to_error::deserialize::<_, crate::object::Object<T>>(item.to_json()) {
            Ok(v) => out.push(v.0),
            Err(e) => {
                let path: Vec<Seg> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Seq { index } => Some(Seg::Item(*index)),
                        serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                        _ => None,
                    })
                    .collect();
                let id = locate_key(item, "id").and_then(Node::scalar_text);
                let name = id.map_or_else(|| format!("{what} #{}", i + 1), |id| format!("{what} `{id}`"));
                let field = e.path().to_string();
                let why = crate::case::plain_types(&e.inner().to_string());
                let message = if field == "." || field.is_empty() {
                    format!("{name}: {why}")
                } else {
                    format!("{name}: `{field}`: {why}")
                };
                let pos = locate(item, &path);
                diags.push(Diagnostic::custom("invalid-entry", Severity::Error, file, pos, message));
            }
        }
    }
    out
}

/// Duplicate account ids and unknown parents, all of them.
fn account_problems(accounts: &[Account]) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, a) in accounts.iter().enumerate() {
        if ids.insert(&a.id, i).is_some() {
            let message = format!("account `{}` is listed twice", a.id);
            out.push(Problem::new("accounts", i, vec![Seg::Key("id".into())], "duplicate-account", message));
        }
    }
    for (i, a) in accounts.iter().enumerate() {
        if let Some(p) = &a.parent
            && !ids.contains_key(p.as_str())
        {
            let message = format!("account `{}` names unknown parent `{p}`", a.id);
            out.push(Problem::new("accounts", i, vec![Seg::Key("parent".into())], "unknown-parent", message));
        }
    }
    out
}

fn inherit(into: &mut Account, from: &Account) {
    fn fill<T: Clone>(slot: &mut Option<T>, from: &Option<T>) {
        if slot.is_none() {
            slot.clone_from(from);
        }
    }
    fill(&mut into.segment, &from.segment);
    fill(&mut into.strategic, &from.strategic);
    fill(&mut into.entitlement, &from.entitlement);
    fill(&mut into.language, &from.language);
    fill(&mut into.country, &from.country);
    fill(&mut into.territory, &from.territory);
    for (k, v) in &from.attributes {
        into.attributes.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(id: &str, parent: Option<&str>) -> Account {
        Account { id: id.into(), parent: parent.map(Into::into), ..Default::default() }
    }

    #[test]
    fn attributes_come_from_nearest_ancestor() {
        let mut root = acc("harman", None);
        root.entitlement = Some("gold".into());
        root.strategic = Some(true);
        let mut mid = acc("jbl", Some("harman"));
        mid.entitlement = Some("platinum".into());
        let leaf = acc("jbl-pro", Some("jbl"));
        let d = Directory::from_accounts(vec![leaf, mid, root]).unwrap();
        let r = d.account("jbl-pro").unwrap();
        assert_eq!(r.account.entitlement.as_deref(), Some("platinum"));
        assert_eq!(r.account.strategic, Some(true));
        assert_eq!(r.path.iter().map(|p| &**p).collect::<Vec<_>>(), vec!["harman", "jbl", "jbl-pro"]);
    }

    #[test]
    fn large_directories_load_and_a_bad_agent_is_named_where_it_is() {
        let agent = |i: usize| {
            format!(
                "  - {{ id: a{i}, teams: [t1], languages: [en, de], skills: {{ api: {}, billing: 2, mobile: 4 }}, capacity: 10, load: {}, presence: online }}\n",
                i % 9 + 1,
                i % 10
            )
        };
        let yaml = format!(
            "teams:\n  - {{ id: t1, territories: [amer], tiers: [1], languages: [en] }}\nagents:\n{}",
            (0..8_700).map(agent).collect::<String>()
        );
        let dir = Directory::from_text("big.yaml", &yaml).unwrap();
        assert_eq!(dir.agent_count(), 8_700);
        let agents: Vec<String> = (0..3_000)
            .map(|i| {
                let capacity = if i == 2_345 { "\"ten\"".to_string() } else { "10".to_string() };
                format!("{{\"id\": \"a{i}\", \"teams\": [\"t1\"],\n \"capacity\": {capacity}}}")
            })
            .collect();
        let json = format!(
            "{{\"teams\": [{{\"id\": \"t1\", \"territories\": [\"amer\"], \"tiers\": [1]}}],\n\"agents\": [\n{}\n]}}",
            agents.join(",\n")
        );
        let e = Directory::from_text("big.json", &json).unwrap_err().to_string();
        assert!(e.contains("agent `a2345`: `capacity`: invalid type: string \"ten\", expected a whole number"), "{e}");
        assert!(e.starts_with("big.json:4694:14: "), "{e}");
    }

    #[test]
    fn cycles_and_unknown_parents_are_named() {
        let e = Directory::from_accounts(vec![acc("a", Some("b")), acc("b", Some("a"))]).unwrap_err();
        assert!(matches!(e, DirectoryError::Cycle(_)), "{e}");
        let e = Directory::from_accounts(vec![acc("a", Some("zz"))]).unwrap_err();
        assert_eq!(e.to_string(), "account `a` names unknown parent `zz`");
    }
}
