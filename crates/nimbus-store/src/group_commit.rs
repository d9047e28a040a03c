//! Group commit for [`Durability::Fsync`](crate::Durability::Fsync): writers whose data
//! already reached the OS wait for one fsync that covers them, and concurrent writers share
//! it instead of each paying for their own.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::Result;

#[derive(Default)]
struct State {
    /// Tickets handed out so far; ticket `n` means "my data was written before n was issued".
    issued: u64,
    /// Every ticket up to this one is covered by a completed fsync.
    synced: u64,
    /// Some writer is running an fsync right now.
    syncing: bool,
}

#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked (plain counters), so a
        // poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Call after the write reached the OS; returns once an fsync covering it completed.
    /// `sync` flushes everything written so far to stable storage.
    pub(crate) fn wait_durable(&self, sync: impl Fn() -> Result<()>) -> Result<()> {
        let mut st = self.lock();
        st.issued += 1;
        let ticket = st.issued;
        loop {
            if st.synced >= ticket {
                return Ok(());
            }
            if st.syncing {
                st = self.done.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Become the leader: everything issued so far was written before this point,
            // so one fsync covers all of it.
            st.syncing = true;
            drop(st);
            // The engine holds its journal lock while fsyncing, so writers that queued on
            // it during the previous fsync commit in a burst right after; yielding once lets
            // them join this fsync instead of each leading their own.
            std::thread::yield_now();
            let target = self.lock().issued;
            let res = sync();
            st = self.lock();
            st.syncing = false;
            if res.is_ok() {
                st.synced = st.synced.max(target);
            }
            self.done.notify_all();
            // On failure the waiters retry as leaders themselves and see their own error.
            res?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::GroupCommit;

    #[test]
    fn concurrent_writers_share_fsyncs() {
        let gc = Arc::new(GroupCommit::default());
        let syncs = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gc, syncs) = (gc.clone(), syncs.clone());
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        gc.wait_durable(|| {
                            syncs.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(2));
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|h| h.join().unwrap());
        let n = syncs.load(Ordering::SeqCst);
        assert!(n < 200, "200 waits took {n} fsyncs: no grouping");
    }

    #[test]
    fn failed_sync_is_reported_and_retried() {
        let gc = GroupCommit::default();
        let err = gc.wait_durable(|| Err(crate::Error::InvalidKeyspace("boom".into())));
        assert!(err.is_err());
        gc.wait_durable(|| Ok(())).unwrap();
    }
}
