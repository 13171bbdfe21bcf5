//! The directory: data the caller owns and passes in (accounts and their
//! hierarchy for now; teams, agents and calendars come with assignment and
//! SLAs). The core never fetches it.

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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    accounts: Vec<Account>,
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
        Ok(Directory { accounts })
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
        Directory::from_accounts(parsed.accounts)
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
