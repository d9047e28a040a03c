//! Crash safety: a child process writes numbered keys and prints each one after the write
//! is acknowledged; we SIGKILL it mid-loop, reopen the store and require every
//! acknowledged key (and blob) to be there, and every batch to be all-or-nothing.
//!
//! The child is this same test binary re-executed with `CHILD_DIR` set, running only
//! `crash_child`, which is a no-op in a normal test run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nimbus_store::{Direction, Durability, Store, StoreConfig, WriteBatch};

const CHILD_DIR: &str = "NIMBUS_STORE_CRASH_CHILD_DIR";
const CHILD_FSYNC: &str = "NIMBUS_STORE_CRASH_CHILD_FSYNC";

fn key(i: u64) -> String {
    format!("{i:010}")
}

fn value(i: u64) -> Vec<u8> {
    // Varying sizes, some large enough to span journal buffer boundaries.
    vec![(i % 251) as u8; 10 + (i as usize % 7) * 3000]
}

fn config(dir: &str, fsync: bool) -> StoreConfig {
    let durability = if fsync {
        Durability::Fsync
    } else {
        Durability::Os
    };
    StoreConfig::new(dir).durability(durability)
}

/// The child's entry point.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let fsync = std::env::var(CHILD_FSYNC).is_ok();
    let store = Store::open(config(&dir, fsync)).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let mut batch = WriteBatch::new();
        batch
            .put("crash.a", key(i), value(i))
            .put("crash.b", key(i), value(i));
        store.write(batch).unwrap();
        writeln!(out, "ACK {i}").unwrap();
        if i % 50 == 0 {
            store
                .blobs()
                .put(&format!("crash/{i}"), value(i).as_slice())
                .unwrap();
            writeln!(out, "BLOB {i}").unwrap();
        }
        out.flush().unwrap();
    }
}

fn crash_and_recover(fsync: bool) {
    let dir = tempfile::tempdir().unwrap();
    let dir_str = dir.path().to_str().unwrap().to_owned();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, &dir_str)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if fsync {
        cmd.env(CHILD_FSYNC, "1");
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let (mut acked, mut blobs) = (Vec::new(), Vec::new());
    let mut record = |line: &str| {
        if let Some(n) = line.strip_prefix("ACK ") {
            acked.push(n.parse::<u64>().unwrap());
        } else if let Some(n) = line.strip_prefix("BLOB ") {
            blobs.push(n.parse::<u64>().unwrap());
        }
    };
    // Let it get well into the loop (and past a few journal buffer flushes), then kill.
    let deadline = Instant::now() + Duration::from_secs(20);
    let target = if fsync { 300 } else { 3000 };
    let mut seen = 0;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("ACK ") {
            seen += 1;
        }
        record(&line);
        if seen >= target || Instant::now() > deadline {
            break;
        }
    }
    assert!(seen > 0, "child acknowledged nothing");
    child.kill().unwrap(); // SIGKILL on Unix
                           // Lines already printed were acknowledged before the kill: count them too.
    for line in lines {
        record(&line.unwrap());
    }
    child.wait().unwrap();

    let store = Store::open(config(&dir_str, fsync)).unwrap();
    for &i in &acked {
        assert_eq!(
            store.get("crash.a", key(i).as_bytes()).unwrap(),
            Some(value(i)),
            "lost acknowledged key {i}"
        );
    }
    for &i in &blobs {
        let blob = store
            .blobs()
            .get(&format!("crash/{i}"))
            .unwrap()
            .expect("lost acknowledged blob");
        assert_eq!(blob.read_to_vec().unwrap(), value(i));
    }
    // Batches are atomic across keyspaces after recovery too, including an in-flight one.
    let a: Vec<_> = store
        .prefix("crash.a", b"", Direction::Forward)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let b: Vec<_> = store
        .prefix("crash.b", b"", Direction::Forward)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(a, b, "a batch was torn by the crash");
    assert!(a.len() >= acked.len());
    // No partial blob is visible and no temp file survives reopening.
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs/.tmp"))
            .unwrap()
            .count(),
        0
    );
    eprintln!(
        "fsync={fsync}: {} acknowledged keys, {} blobs, {} recovered",
        acked.len(),
        blobs.len(),
        a.len()
    );
}

#[test]
fn kill_9_loses_no_acknowledged_write() {
    crash_and_recover(false);
}

#[test]
fn kill_9_loses_no_acknowledged_write_fsync() {
    crash_and_recover(true);
}
