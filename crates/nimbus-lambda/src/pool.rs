//! Warm environments and concurrency accounting.
//!
//! Per function (`<account>/<region>/<name>`): the idle environments and how many
//! invocations are running. Per account: how many run in total. An idle environment is
//! reused only when its fingerprint (code digest + the configuration that shapes the
//! process) is the function's current one, so an update retires old environments.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::env::Env;

#[derive(Default)]
struct FnPool {
    idle: Vec<Arc<Env>>,
    busy: u32,
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
            while let Some(env) = pool.idle.pop() {
                if env.fingerprint == fingerprint && env.healthy() {
                    found = Some(env);
                    break;
                }
                stale.push(env);
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
        if !env.healthy() || env.fingerprint != current_fingerprint {
            env.kill();
            return;
        }
        let mut inner = self.lock();
        inner.fns.entry(key.to_string()).or_default().idle.push(env);
    }

    /// Kills every idle environment of a function (after an update or a delete).
    pub fn retire(&self, key: &str) {
        let idle = {
            let mut inner = self.lock();
            match inner.fns.get_mut(key) {
                Some(p) => std::mem::take(&mut p.idle),
                None => Vec::new(),
            }
        };
        for e in &idle {
            e.kill();
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
            inner.fns.retain(|_, p| p.busy > 0 || !p.idle.is_empty());
        }
        for e in &dead {
            e.kill();
        }
    }
}
