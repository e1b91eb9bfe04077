//! Protected and expiring branches and snapshots, and the retention of automatic snapshots.
//! Every change goes to state.json's `lifecycle` (see `branch::lifecycle`) and its history.

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};

use crate::backend::{Backend, Created};
use crate::branch::lifecycle::{Lifecycle, Policy};
use crate::branch::{Kind, MAIN};
use crate::stack::state::StateDir;

/// How many automatic snapshots are kept when workspace-stack.toml does not say.
pub const DEFAULT_SNAPSHOT_RETENTION: usize = 10;

/// What `branch create` asks for besides the copy itself.
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub protect: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// Lets a protected branch expire.
    pub force: bool,
}

fn what(kind: Kind) -> &'static str {
    match kind {
        Kind::Branch => "branch",
        Kind::Snapshot => "snapshot",
    }
}

/// Applies `f` to the lifecycle in state.json as it is on disk now, saves it under the
/// backend's lock (held since it was opened, so nobody else changed it meanwhile), and hands
/// the result to the backend.
pub fn update(
    dir: &StateDir,
    b: &mut dyn Backend,
    f: impl FnOnce(&mut Lifecycle),
) -> anyhow::Result<()> {
    let mut current = super::require_state(dir)?;
    f(&mut current.lifecycle);
    dir.save(&current, b.lock()?)?;
    b.state_mut().lifecycle = current.lifecycle;
    Ok(())
}

fn refuse_protected_expiry(kind: Kind, name: &str) -> anyhow::Result<()> {
    bail!(
        "{} {name} would be protected and expire: a protected {} does not expire — pass --force to let it",
        what(kind),
        what(kind)
    )
}

pub async fn create_branch(
    dir: &StateDir,
    b: &mut dyn Backend,
    name: &str,
    from: &str,
    at: Option<String>,
    opts: CreateOptions,
) -> anyhow::Result<Created> {
    if opts.protect && opts.expires_at.is_some() && !opts.force {
        refuse_protected_expiry(Kind::Branch, name)?;
    }
    let created = b.create_branch(name, from, at).await?;
    let policy = Policy {
        protected: opts.protect,
        expires_at: opts.expires_at,
        expire_protected: opts.protect && opts.force,
    };
    let detail = Some(match opts.expires_at {
        Some(t) => format!(
            "from {from}, expires {}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => format!("from {from}"),
    });
    update(dir, b, |l| {
        l.set(Kind::Branch, &created.name, policy);
        l.record(Kind::Branch, &created.name, "created", detail);
    })?;
    Ok(created)
}

fn refuse_if_protected(l: &Lifecycle, kind: Kind, name: &str, force: bool) -> anyhow::Result<()> {
    if kind == Kind::Branch && name == MAIN {
        bail!("main cannot be deleted (main is always protected)");
    }
    if l.policy(kind, name).protected && !force {
        bail!(
            "{} {name} is protected — pass --force to delete it anyway, or `wsctl {} unprotect {name}` first",
            what(kind),
            what(kind)
        );
    }
    Ok(())
}

/// Deletes a branch (its compute and preview API too); a protected one needs `force`.
pub async fn delete_branch(
    dir: &StateDir,
    b: &mut dyn Backend,
    name: &str,
    force: bool,
) -> anyhow::Result<Option<String>> {
    refuse_if_protected(&b.state().lifecycle, Kind::Branch, name, force)?;
    let timeline = b.delete_branch(name).await?;
    update(dir, b, |l| {
        l.set(Kind::Branch, name, Policy::default());
        l.record(
            Kind::Branch,
            name,
            "deleted",
            force.then(|| "--force".into()),
        );
    })?;
    Ok(timeline)
}

pub async fn delete_snapshot(
    dir: &StateDir,
    b: &mut dyn Backend,
    name: &str,
    force: bool,
) -> anyhow::Result<()> {
    refuse_if_protected(&b.state().lifecycle, Kind::Snapshot, name, force)?;
    b.delete_snapshot(name).await?;
    update(dir, b, |l| {
        l.set(Kind::Snapshot, name, Policy::default());
        l.record(
            Kind::Snapshot,
            name,
            "deleted",
            force.then(|| "--force".into()),
        );
    })
}

async fn exists(b: &mut dyn Backend, kind: Kind, name: &str) -> anyhow::Result<bool> {
    Ok(match kind {
        Kind::Branch => b.has_branch(name).await?,
        Kind::Snapshot => b.snapshots().await?.iter().any(|m| m.name == name),
    })
}

/// `protect` / `unprotect`. Protecting one that is set to expire needs `force` (it then
/// still expires).
pub async fn set_protected(
    dir: &StateDir,
    b: &mut dyn Backend,
    kind: Kind,
    name: &str,
    protect: bool,
    force: bool,
) -> anyhow::Result<()> {
    if kind == Kind::Branch && name == MAIN && !protect {
        bail!("main is always protected");
    }
    if !exists(b, kind, name).await? {
        bail!(
            "no {} named {name} — see `wsctl {} list`",
            what(kind),
            what(kind)
        );
    }
    let mut policy = b.state().lifecycle.policy(kind, name);
    if protect && policy.expires_at.is_some() && !force {
        refuse_protected_expiry(kind, name)?;
    }
    policy.protected = protect;
    policy.expire_protected = protect && force && policy.expires_at.is_some();
    let event = if protect { "protected" } else { "unprotected" };
    update(dir, b, |l| {
        if !(kind == Kind::Branch && name == MAIN) {
            l.set(kind, name, policy);
        }
        l.record(kind, name, event, None);
    })
}

/// What one pass of the sweeper did.
#[derive(Debug, Default)]
pub struct Sweep {
    pub expired: Vec<String>,
    pub pruned: Vec<String>,
    pub failed: Vec<(String, String)>,
}

/// Deletes every branch and snapshot whose time is up, then prunes automatic snapshots.
pub async fn sweep(dir: &StateDir, b: &mut dyn Backend) -> anyhow::Result<Sweep> {
    let mut out = Sweep::default();
    for (kind, name) in b.state().lifecycle.due(Utc::now()) {
        let result = match kind {
            Kind::Branch => b.delete_branch(&name).await.map(|_| ()),
            Kind::Snapshot => b.delete_snapshot(&name).await,
        };
        match result {
            Ok(()) => {
                update(dir, b, |l| {
                    let at = l
                        .policy(kind, &name)
                        .expires_at
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                    l.set(kind, &name, Policy::default());
                    l.record(
                        kind,
                        &name,
                        "expired",
                        at.map(|t| format!("expiry was {t}")),
                    );
                })?;
                out.expired.push(name);
            }
            Err(e) => {
                let why = format!("{e:#}");
                // Said once, not on every pass: the sweeper tries again later.
                let said = b
                    .state()
                    .lifecycle
                    .last_event(kind, &name)
                    .is_some_and(|ev| {
                        ev.event == "expiry-failed" && ev.detail.as_ref() == Some(&why)
                    });
                if !said {
                    update(dir, b, |l| {
                        l.record(kind, &name, "expiry-failed", Some(why.clone()))
                    })?;
                }
                out.failed.push((name, why));
            }
        }
    }
    let keep = super::up::file_config(dir)?
        .snapshot_retention
        .unwrap_or(DEFAULT_SNAPSHOT_RETENTION);
    out.pruned = prune(dir, b, keep).await?;
    Ok(out)
}

/// Deletes automatic snapshots beyond the newest `keep`. Never the newest automatic one (a
/// plain `wsctl rollback` restores it: it undoes the last migrate, import or rollback), never
/// a protected one, and none that the backend refuses to delete (on Neon, one that main's
/// timeline grew from).
pub async fn prune(
    dir: &StateDir,
    b: &mut dyn Backend,
    keep: usize,
) -> anyhow::Result<Vec<String>> {
    let mut automatic: Vec<_> = b
        .snapshots()
        .await
        .context("listing snapshots to prune")?
        .into_iter()
        .filter(|m| m.automatic)
        .collect();
    automatic.sort_by_key(|m| std::cmp::Reverse(m.created_at));
    let mut pruned = Vec::new();
    for m in automatic.into_iter().skip(keep.max(1)) {
        if b.state()
            .lifecycle
            .policy(Kind::Snapshot, &m.name)
            .protected
        {
            continue;
        }
        match b.delete_snapshot(&m.name).await {
            Ok(()) => {
                update(dir, b, |l| {
                    l.set(Kind::Snapshot, &m.name, Policy::default());
                    l.record(
                        Kind::Snapshot,
                        &m.name,
                        "pruned",
                        Some(format!("snapshot_retention keeps the newest {keep}")),
                    );
                })?;
                pruned.push(m.name);
            }
            Err(e) => tracing::info!(snapshot = %m.name, error = %format!("{e:#}"), "kept"),
        }
    }
    Ok(pruned)
}
