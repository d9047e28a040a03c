//! Engine comparison behind the choice of fjall (see the crate docs for the figures).
//! Run: `cargo run --release -p nimbus-store --example bench [-- <dir>]`. The directory
//! must be on a real disk (not tmpfs), or the fsync figures mean nothing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nimbus_store::{Direction, Durability, Store, StoreConfig, WriteBatch};
use redb::{ReadableDatabase, TableDefinition};

const SINGLE: usize = 20_000;
/// Same count with fsync per write; lower it on slow disks (each is a device flush).
const SINGLE_FSYNC: usize = 20_000;
const BATCHES: usize = 20;
const BATCH: usize = 1_000;
const GETS: usize = 20_000;
const SCANS: usize = 2_000;
const VALUE: [u8; 100] = [7; 100];
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");

fn key(i: usize) -> Vec<u8> {
    // 100 keys per "user" prefix so a prefix scan returns 100 rows.
    format!("user{:06}/item{:04}", i / 100, i % 100).into_bytes()
}

fn report(name: &str, n: usize, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<44} {n:>7} ops {:>9.1} ms {:>12.0} ops/s",
        secs * 1e3,
        n as f64 / secs
    );
}

fn bench_fjall(dir: &Path, durability: Durability) {
    let label = format!("fjall {durability:?}");
    let store = Store::open(StoreConfig::new(dir).durability(durability)).unwrap();
    let single = if durability == Durability::Fsync {
        SINGLE_FSYNC
    } else {
        SINGLE
    };
    let t = Instant::now();
    for i in 0..single {
        store.put("bench", key(i), VALUE).unwrap();
    }
    report(&format!("{label}: single-put batches"), single, t);

    if durability == Durability::Fsync {
        // Group commit: 4 concurrent writers sharing fsyncs.
        let t = Instant::now();
        let threads: Vec<_> = (0..4)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..SINGLE_FSYNC / 4 {
                        store.put("bench2", key(w * 1_000_000 + i), VALUE).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|h| h.join().unwrap());
        report(&format!("{label}: single puts, 4 threads"), SINGLE_FSYNC, t);
    }

    let t = Instant::now();
    for b in 0..BATCHES {
        let mut batch = WriteBatch::new();
        for i in 0..BATCH {
            batch.put("bench", key(b * BATCH + i), VALUE);
        }
        store.write(batch).unwrap();
    }
    report(
        &format!("{label}: 1k-put batches (puts)"),
        BATCHES * BATCH,
        t,
    );

    let t = Instant::now();
    for i in 0..GETS {
        assert!(store
            .get("bench", &key(i % (BATCHES * BATCH)))
            .unwrap()
            .is_some());
    }
    report(&format!("{label}: point gets"), GETS, t);

    let t = Instant::now();
    for i in 0..SCANS {
        let prefix = format!("user{:06}/", i % (BATCHES * BATCH / 100));
        let n = store
            .prefix("bench", prefix.as_bytes(), Direction::Forward)
            .unwrap()
            .count();
        assert_eq!(n, 100);
    }
    report(&format!("{label}: prefix scans (100 rows)"), SCANS, t);
}

fn bench_redb(dir: &Path, durability: redb::Durability) {
    let label = format!("redb {durability:?}");
    let db = redb::Database::create(dir.join("redb")).unwrap();
    let single = if matches!(durability, redb::Durability::Immediate) {
        SINGLE_FSYNC
    } else {
        SINGLE
    };
    let commit = |pairs: &mut dyn Iterator<Item = usize>| {
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(durability).unwrap();
        {
            let mut table = txn.open_table(TABLE).unwrap();
            for i in pairs {
                table.insert(key(i).as_slice(), VALUE.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    };
    let t = Instant::now();
    for i in 0..single {
        commit(&mut std::iter::once(i));
    }
    report(&format!("{label}: single-put txns"), single, t);

    let t = Instant::now();
    for b in 0..BATCHES {
        commit(&mut (b * BATCH..(b + 1) * BATCH));
    }
    report(&format!("{label}: 1k-put txns (puts)"), BATCHES * BATCH, t);

    let t = Instant::now();
    for i in 0..GETS {
        // A read transaction per get, as a Store::get would do.
        let table = db.begin_read().unwrap().open_table(TABLE).unwrap();
        assert!(table
            .get(key(i % (BATCHES * BATCH)).as_slice())
            .unwrap()
            .is_some());
    }
    report(&format!("{label}: point gets"), GETS, t);

    let t = Instant::now();
    for i in 0..SCANS {
        let table = db.begin_read().unwrap().open_table(TABLE).unwrap();
        let lo = format!("user{:06}/", i % (BATCHES * BATCH / 100));
        let hi = format!("user{:06}0", i % (BATCHES * BATCH / 100)); // '0' follows '/'
        let n = table
            .range::<&[u8]>(lo.as_bytes()..hi.as_bytes())
            .unwrap()
            // Copy out owned pairs, as Store scans do.
            .map(|r| {
                r.map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                    .unwrap()
            })
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .count();
        assert_eq!(n, 100);
    }
    report(&format!("{label}: prefix scans (100 rows)"), SCANS, t);
}

fn main() {
    let base: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/nimbus-store-bench")
        });
    let _ = std::fs::remove_dir_all(&base);
    let run = |name: &str| {
        let d = base.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    bench_fjall(&run("fjall-os"), Durability::Os);
    bench_fjall(&run("fjall-fsync"), Durability::Fsync);
    // redb is only crash-safe with Immediate (fsync per commit); None is shown for reference.
    bench_redb(&run("redb-immediate"), redb::Durability::Immediate);
    bench_redb(&run("redb-none"), redb::Durability::None);
    let _ = std::fs::remove_dir_all(&base);
}
