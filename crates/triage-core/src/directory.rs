//! The directory: data the caller owns and passes in — accounts and their
//! hierarchy, support teams and agents with their live state (presence,
//! load). The core never fetches it and never changes it.

use crate::roster::TeamIndex;
use crate::syntax;
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
    pub path: Vec<String>,
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
    accounts: BTreeMap<String, ResolvedAccount>,
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
    pub id: String,
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
    pub queue: Option<String>,
    /// How an agent is picked.
    #[serde(default)]
    pub strategy: Strategy,
    /// For `weighted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    pub id: String,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The text is not a valid directory document.
    #[error("invalid directory: {0}")]
    Syntax(String),
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
    #[error("accounts form a cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    /// A team or agent that cannot be used.
    #[error("{0}")]
    Roster(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    accounts: Vec<Account>,
    #[serde(default)]
    teams: Vec<Team>,
    #[serde(default)]
    agents: Vec<Agent>,
}

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
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
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
                let mut merged = accounts[i].clone();
                let mut path = Vec::new();
                if let Some(parent) = parent_of[i].and_then(|p| resolved[p].as_ref()) {
                    inherit(&mut merged, &parent.account);
                    path.clone_from(&parent.path);
                }
                path.push(accounts[i].id.clone());
                resolved[i] = Some(ResolvedAccount { account: merged, path });
            }
        }
        // Already in id order: the map is built in one pass.
        let accounts = resolved.into_iter().flatten().map(|r| (r.account.id.clone(), r)).collect();
        Ok(Directory { accounts, ..Directory::default() })
    }

    /// The directory with these teams and agents. Duplicates, unknown
    /// teams, negative capacities or loads, skill levels above 10 and
    /// overflow loops are errors naming the team or agent.
    pub fn with_roster(mut self, mut teams: Vec<Team>, mut agents: Vec<Agent>) -> Result<Directory, DirectoryError> {
        let bad = |m: String| Err(DirectoryError::Roster(m));
        teams.sort_by(|a, b| a.id.cmp(&b.id));
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(w) = teams.windows(2).find(|w| w[0].id == w[1].id) {
            return bad(format!("team `{}` is listed twice", w[0].id));
        }
        if let Some(w) = agents.windows(2).find(|w| w[0].id == w[1].id) {
            return bad(format!("agent `{}` is listed twice", w[0].id));
        }
        let find = |id: &str| teams.binary_search_by(|t| t.id.as_str().cmp(id)).ok();
        fn known(teams: &[Team]) -> Vec<&str> {
            teams.iter().map(|t| t.id.as_str()).collect()
        }
        let mut overflow = Vec::with_capacity(teams.len());
        for t in &teams {
            if t.tiers.iter().any(|&x| x > 3) {
                return bad(format!("team `{}`: tiers are 0 to 3", t.id));
            }
            overflow.push(match &t.overflow {
                None => None,
                Some(o) => match find(o) {
                    Some(i) => Some(i),
                    None => return bad(unknown_team(&format!("team `{}` overflows to", t.id), o, &known(&teams))),
                },
            });
        }
        // Overflow chains must end: follow each one at most teams.len() steps.
        for start in 0..teams.len() {
            let mut chain = vec![start];
            let mut cur = overflow[start];
            while let Some(i) = cur {
                if chain.contains(&i) {
                    chain.push(i);
                    let ids: Vec<&str> = chain.iter().map(|&c| teams[c].id.as_str()).collect();
                    return bad(format!("teams overflow in a loop: {}", ids.join(" → ")));
                }
                chain.push(i);
                cur = overflow[i];
            }
        }
        let mut members = vec![Vec::new(); teams.len()];
        for (ai, a) in agents.iter().enumerate() {
            if a.teams.is_empty() {
                return bad(format!("agent `{}` belongs to no team", a.id));
            }
            for t in &a.teams {
                match find(t) {
                    Some(i) => members[i].push(ai),
                    None => return bad(unknown_team(&format!("agent `{}` names", a.id), t, &known(&teams))),
                }
            }
            if a.capacity < 0 || a.load < 0 {
                return bad(format!("agent `{}`: capacity and load cannot be negative", a.id));
            }
            if let Some((skill, level)) = a.skills.iter().find(|(_, l)| **l > 10) {
                return bad(format!("agent `{}`: skill `{skill}` has level {level}; levels are 0 to 10", a.id));
            }
            if let Some((channel, _)) = a.channel_units.iter().find(|(_, u)| **u < 1) {
                return bad(format!("agent `{}`: a `{channel}` case must cost at least 1 unit", a.id));
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
        Ok(self)
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

    /// Reads a directory from YAML or JSON text (`accounts: [...]`).
    pub fn from_text(file: &str, text: &str) -> Result<Directory, DirectoryError> {
        let node = syntax::parse(file, text).map_err(|d| DirectoryError::Syntax(d.to_string()))?;
        Directory::from_value(file, node.to_json())
    }

    /// Builds a directory from an already-parsed document (`accounts: [...]`).
    pub(crate) fn from_value(file: &str, value: serde_json::Value) -> Result<Directory, DirectoryError> {
        let parsed: DirectoryFile = serde_path_to_error::deserialize(value)
            .map_err(|e| DirectoryError::Syntax(format!("{file}: field `{}`: {}", e.path(), e.inner())))?;
        Directory::from_accounts(parsed.accounts)?
            .with_roster(parsed.teams, parsed.agents)
            .map_err(|e| DirectoryError::Roster(format!("{file}: {e}")))
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

fn unknown_team(what: &str, id: &str, known: &[&str]) -> String {
    let hint =
        crate::diag::suggest(id, known.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
    format!("{what} unknown team `{id}`{hint}")
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
        assert_eq!(r.path, vec!["harman", "jbl", "jbl-pro"]);
    }

    #[test]
    fn cycles_and_unknown_parents_are_named() {
        let e = Directory::from_accounts(vec![acc("a", Some("b")), acc("b", Some("a"))]).unwrap_err();
        assert!(matches!(e, DirectoryError::Cycle(_)), "{e}");
        let e = Directory::from_accounts(vec![acc("a", Some("zz"))]).unwrap_err();
        assert_eq!(e.to_string(), "account `a` names unknown parent `zz`");
    }
}
