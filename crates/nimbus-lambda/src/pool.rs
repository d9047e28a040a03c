//! Warm environments and concurrency accounting.
//!
//! Per function (`<account>/<region>/<name>`): the idle environments and how many
//! invocations are running. Per account: how many run in total. An idle environment is
//! reused only when its fingerprint (version, code digest + the configuration that shapes
//! the process) is the one asked for; environments of every version of a function share
//! the function's concurrency (reserved concurrency covers all versions, as on AWS).
//!
//! Provisioned environments (provisioned concurrency, per version or alias) are kept
//! apart: they are never reaped for idleness, an invocation of their version takes one
//! before any on-demand environment, and after the invocation it returns to them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::env::Env;

#[derive(Default)]
struct FnPool {
    idle: Vec<Arc<Env>>,
    busy: u32,
    /// Provisioned environments per qualifier (version or alias) of the function.
    provisioned: HashMap<String, Provisioned>,
}

/// The environments kept for one provisioned concurrency configuration.
#[derive(Default)]
struct Provisioned {
    fingerprint: String,
    /// Every live environment (idle or running an invocation).
    all: Vec<Arc<Env>>,
    idle: Vec<Arc<Env>>,
}

#[derive(Default)]
struct Inner {
    fns: HashMap<String, FnPool>,
    account_busy: HashMap<String, u32>,
}

#[derive(Default)]
pub struct Pools {
    inner: Mutex<Inner>,
}

pub enum Throttle {
    Reserved,
    Account,
}

/// A running invocation's claim on concurrency; released on drop.
pub struct Slot {
    pools: Arc<Pools>,
    key: String,
    account: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.pools.lock();
        if let Some(p) = inner.fns.get_mut(&self.key) {
            p.busy = p.busy.saturating_sub(1);
        }
        if let Some(n) = inner.account_busy.get_mut(&self.account) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Pools {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims a slot and, when one is warm, an idle environment with `fingerprint`.
    pub fn acquire(
        self: &Arc<Self>,
        key: &str,
        account: &str,
        fingerprint: &str,
        reserved: Option<i32>,
        account_limit: u32,
    ) -> Result<(Slot, Option<Arc<Env>>), Throttle> {
        let mut stale = Vec::new();
        let result = {
            let mut inner = self.lock();
            let account_busy = inner.account_busy.get(account).copied().unwrap_or(0);
            let pool = inner.fns.entry(key.to_string()).or_default();
            if let Some(r) = reserved {
                if i64::from(pool.busy) >= i64::from(r) {
                    return Err(Throttle::Reserved);
                }
            } else if account_busy >= account_limit {
                return Err(Throttle::Account);
            }
            pool.busy += 1;
            let mut found = None;
            // Provisioned environments of this version first (they are initialised already).
            for p in pool.provisioned.values_mut().filter(|p| p.fingerprint == fingerprint) {
                while let Some(env) = p.idle.pop() {
                    if env.healthy() {
                        found = Some(env);
                        break;
                    }
                    p.all.retain(|e| !Arc::ptr_eq(e, &env));
                    stale.push(env);
                }
                if found.is_some() {
                    break;
                }
            }
            // Then a warm on-demand one; other versions' idle environments stay.
            let mut i = pool.idle.len();
            while found.is_none() && i > 0 {
                i -= 1;
                if !pool.idle[i].healthy() {
                    stale.push(pool.idle.swap_remove(i));
                } else if pool.idle[i].fingerprint == fingerprint {
                    found = Some(pool.idle.swap_remove(i));
                }
            }
            *inner.account_busy.entry(account.to_string()).or_default() += 1;
            (Slot { pools: self.clone(), key: key.to_string(), account: account.to_string() }, found)
        };
        // Dropping an environment kills its process: do it outside the lock.
        drop(stale);
        Ok(result)
    }

    /// Returns an environment after an invocation: kept warm when still healthy and current.
    pub fn release(&self, key: &str, env: Arc<Env>, current_fingerprint: &str) {
        let mut inner = self.lock();
        let pool = inner.fns.entry(key.to_string()).or_default();
        if let Some(p) = pool.provisioned.values_mut().find(|p| p.all.iter().any(|e| Arc::ptr_eq(e, &env))) {
            if env.healthy() {
                p.idle.push(env);
            } else {
                // The keeper starts a replacement.
                p.all.retain(|e| !Arc::ptr_eq(e, &env));
                drop(inner);
                env.kill();
            }
            return;
        }
        if !env.healthy() || env.fingerprint != current_fingerprint {
            drop(inner);
            env.kill();
            return;
        }
        pool.idle.push(env);
    }

    /// Kills the idle on-demand environments of a function's `$LATEST` (after an update or
    /// a delete); published versions are immutable, their environments stay.
    pub fn retire(&self, key: &str) {
        self.retire_where(key, |fp| fp.starts_with("$LATEST|"));
    }

    /// Kills the idle on-demand environments of `key` whose fingerprint matches `pred`.
    pub fn retire_where(&self, key: &str, pred: impl Fn(&str) -> bool) {
        let idle = {
            let mut inner = self.lock();
            match inner.fns.get_mut(key) {
                Some(p) => {
                    let (gone, keep) = std::mem::take(&mut p.idle).into_iter().partition(|e| pred(&e.fingerprint));
                    p.idle = keep;
                    gone
                }
                None => Vec::new(),
            }
        };
        for e in &idle {
            e.kill();
        }
    }

    /// Live provisioned environments of `key`'s configuration `qualifier` for
    /// `fingerprint`. Dead ones are dropped; when the configuration's version changed
    /// (an alias moved, `$LATEST`-independent), the old environments are retired.
    pub fn provisioned_alive(&self, key: &str, qualifier: &str, fingerprint: &str) -> usize {
        let mut dead = Vec::new();
        let n = {
            let mut inner = self.lock();
            let p = inner.fns.entry(key.to_string()).or_default().provisioned.entry(qualifier.to_string()).or_default();
            if p.fingerprint != fingerprint {
                dead.append(&mut p.idle);
                p.all.clear();
                p.fingerprint = fingerprint.to_string();
            }
            let (live, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut p.all).into_iter().partition(|e| e.healthy());
            p.all = live;
            p.idle.retain(|e| e.healthy());
            dead.extend(gone);
            p.all.len()
        };
        for e in &dead {
            e.kill();
        }
        n
    }

    /// How many healthy environments a provisioned configuration has now.
    pub fn provisioned_live(&self, key: &str, qualifier: &str) -> usize {
        let inner = self.lock();
        inner.fns.get(key).and_then(|f| f.provisioned.get(qualifier)).map_or(0, |p| p.all.iter().filter(|e| e.healthy()).count())
    }

    /// Adds a started, initialised environment to a provisioned configuration.
    pub fn add_provisioned(&self, key: &str, qualifier: &str, fingerprint: &str, env: Arc<Env>) {
        let mut inner = self.lock();
        let p = inner.fns.entry(key.to_string()).or_default().provisioned.entry(qualifier.to_string()).or_default();
        if p.fingerprint != fingerprint {
            drop(inner);
            env.kill();
            return;
        }
        p.all.push(env.clone());
        p.idle.push(env);
    }

    /// Stops idle provisioned environments beyond `keep` (the configuration shrank).
    pub fn trim_provisioned(&self, key: &str, qualifier: &str, keep: usize) {
        let mut gone = Vec::new();
        {
            let mut inner = self.lock();
            if let Some(p) = inner.fns.get_mut(key).and_then(|f| f.provisioned.get_mut(qualifier)) {
                while p.all.len() > keep {
                    let Some(env) = p.idle.pop() else { break };
                    p.all.retain(|e| !Arc::ptr_eq(e, &env));
                    gone.push(env);
                }
            }
        }
        for e in &gone {
            e.kill();
        }
    }

    /// Ends a provisioned configuration: idle environments stop now, busy ones after
    /// their invocation (they are no longer known as provisioned).
    pub fn remove_provisioned(&self, key: &str, qualifier: &str) {
        let removed = self.lock().fns.get_mut(key).and_then(|f| f.provisioned.remove(qualifier));
        if let Some(p) = removed {
            for e in &p.idle {
                e.kill();
            }
        }
    }

    /// Kills every idle environment of a function, provisioned ones included (deleted).
    pub fn retire_all(&self, key: &str) {
        let removed = self.lock().fns.get_mut(key).map(|f| (std::mem::take(&mut f.idle), std::mem::take(&mut f.provisioned)));
        if let Some((idle, provisioned)) = removed {
            for e in idle.iter().chain(provisioned.values().flat_map(|p| p.idle.iter())) {
                e.kill();
            }
        }
    }

    /// Kills idle environments unused for `idle_for`.
    pub fn reap(&self, idle_for: Duration) {
        let mut dead = Vec::new();
        {
            let mut inner = self.lock();
            let now = Instant::now();
            for p in inner.fns.values_mut() {
                p.idle.retain(|e| {
                    let last = *e.last_used.lock().unwrap_or_else(PoisonError::into_inner);
                    let keep = e.healthy() && now.duration_since(last) < idle_for;
                    if !keep {
                        dead.push(e.clone());
                    }
                    keep
                });
            }
            inner.fns.retain(|_, p| p.busy > 0 || !p.idle.is_empty() || !p.provisioned.is_empty());
        }
        for e in &dead {
            e.kill();
        }
    }
}
