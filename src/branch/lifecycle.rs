//! What state.json keeps about branches and snapshots beyond what the backend knows:
//! protection, expiry, and a short history (created, protected, expired, pruned, ...), so
//! that a branch that is gone can still be looked up.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Kind, MAIN};

/// How many history events state.json keeps (the oldest go first).
const HISTORY_LIMIT: usize = 500;

/// state.json's `lifecycle`: absent in files written before it existed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub branches: BTreeMap<String, Policy>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub snapshots: BTreeMap<String, Policy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Event>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Protected, and still to expire: the owner said so with `--force`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expire_protected: bool,
}

impl Policy {
    /// Whether the supervisor should delete it now.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now) && (!self.protected || self.expire_protected)
    }
}

/// One thing that happened to a branch or snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub kind: Kind,
    pub name: String,
    /// created, deleted, protected, unprotected, expired, pruned, expiry-failed
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Lifecycle {
    pub fn is_empty(&self) -> bool {
        self.branches.is_empty() && self.snapshots.is_empty() && self.history.is_empty()
    }

    fn map(&self, kind: Kind) -> &BTreeMap<String, Policy> {
        match kind {
            Kind::Branch => &self.branches,
            Kind::Snapshot => &self.snapshots,
        }
    }

    pub fn map_mut(&mut self, kind: Kind) -> &mut BTreeMap<String, Policy> {
        match kind {
            Kind::Branch => &mut self.branches,
            Kind::Snapshot => &mut self.snapshots,
        }
    }

    /// Its policy; main is always protected and never expires.
    pub fn policy(&self, kind: Kind, name: &str) -> Policy {
        if kind == Kind::Branch && name == MAIN {
            return Policy {
                protected: true,
                ..Policy::default()
            };
        }
        self.map(kind).get(name).cloned().unwrap_or_default()
    }

    /// Stores a policy; an empty one is not kept.
    pub fn set(&mut self, kind: Kind, name: &str, policy: Policy) {
        if policy == Policy::default() {
            self.map_mut(kind).remove(name);
        } else {
            self.map_mut(kind).insert(name.to_string(), policy);
        }
    }

    /// Branches and snapshots whose time is up.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<(Kind, String)> {
        [Kind::Branch, Kind::Snapshot]
            .into_iter()
            .flat_map(|k| {
                self.map(k)
                    .iter()
                    .filter(move |(_, p)| p.is_due(now))
                    .map(move |(n, _)| (k, n.clone()))
            })
            .collect()
    }

    pub fn record(&mut self, kind: Kind, name: &str, event: &str, detail: Option<String>) {
        self.history.push(Event {
            at: Utc::now(),
            kind,
            name: name.to_string(),
            event: event.to_string(),
            detail,
        });
        let over = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..over);
    }

    /// The last event about `name`.
    pub fn last_event(&self, kind: Kind, name: &str) -> Option<&Event> {
        self.history
            .iter()
            .rev()
            .find(|e| e.kind == kind && e.name == name)
    }
}

/// `--ttl 2h` (humantime's units: s, m, h, d, w, ...) from now, or `--expires-at` as RFC 3339
/// (`2026-12-01T18:00:00Z`, or without an offset, read as UTC).
pub fn parse_expiry(
    ttl: Option<&str>,
    at: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let when = match (ttl, at) {
        (Some(_), Some(_)) => anyhow::bail!("give --ttl or --expires-at, not both"),
        (Some(ttl), None) => {
            let d = humantime::parse_duration(ttl).map_err(|e| {
                anyhow::anyhow!("--ttl {ttl:?}: {e} — use a duration like 30m, 2h or 7d")
            })?;
            now + chrono::Duration::from_std(d)
                .map_err(|_| anyhow::anyhow!("--ttl {ttl:?} is too long"))?
        }
        (None, Some(at)) => {
            let t = humantime::parse_rfc3339_weak(at).map_err(|e| {
                anyhow::anyhow!(
                    "--expires-at {at:?}: {e} — use RFC 3339, like 2026-12-01T18:00:00Z"
                )
            })?;
            DateTime::<Utc>::from(t)
        }
        (None, None) => return Ok(None),
    };
    if when <= now {
        anyhow::bail!(
            "the expiry {} is not in the future",
            when.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    Ok(Some(when))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_parses_durations_and_times_and_refuses_the_past() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = parse_expiry(Some("2h 30m"), None, now).unwrap().unwrap();
        assert_eq!((t - now).num_minutes(), 150);
        let t = parse_expiry(None, Some("2026-12-01T13:00:00Z"), now)
            .unwrap()
            .unwrap();
        assert_eq!((t - now).num_minutes(), 60);
        assert!(parse_expiry(None, Some("2026-12-01T11:00:00Z"), now).is_err());
        assert!(parse_expiry(Some("soon"), None, now)
            .unwrap_err()
            .to_string()
            .contains("30m"));
        assert!(parse_expiry(Some("1h"), Some("2027-01-01T00:00:00Z"), now).is_err());
    }

    #[test]
    fn main_is_always_protected_and_protected_ones_do_not_expire_unless_forced() {
        let mut l = Lifecycle::default();
        assert!(l.policy(Kind::Branch, MAIN).protected);
        let past = Utc::now() - chrono::Duration::seconds(1);
        let mut p = Policy {
            protected: true,
            expires_at: Some(past),
            expire_protected: false,
        };
        l.set(Kind::Branch, "a", p.clone());
        assert!(l.due(Utc::now()).is_empty());
        p.expire_protected = true;
        l.set(Kind::Branch, "a", p);
        assert_eq!(l.due(Utc::now()), vec![(Kind::Branch, "a".to_string())]);
        l.set(Kind::Branch, "a", Policy::default());
        assert!(l.is_empty());
    }
}
