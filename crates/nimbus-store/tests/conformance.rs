//! The one conformance suite every backend (and durability mode) must pass. The cases are
//! written once in `cases`; `suite!` instantiates them per backend as separate tests.

use std::path::Path;

use nimbus_store::{Durability, Store, StoreConfig};

/// Opens (or reopens) a backend at a directory the test owns.
type Open = fn(&Path) -> Store;

mod cases {
    use std::io::{Read, Write};
    use std::ops::{Bound, ControlFlow};
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use nimbus_store::{Direction, Error, Scan, WriteBatch};

    use super::Open;

    fn keys(scan: Scan) -> Vec<Vec<u8>> {
        scan.map(|r| r.unwrap().0).collect()
    }

    fn strs(scan: Scan) -> Vec<String> {
        keys(scan)
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect()
    }

    pub fn get_put_delete(open: Open, dir: &Path) {
        let s = open(dir);
        assert_eq!(s.get("t.items", b"k").unwrap(), None);
        s.put("t.items", "k", "v1").unwrap();
        assert_eq!(s.get("t.items", b"k").unwrap().as_deref(), Some(&b"v1"[..]));
        s.put("t.items", "k", "v2").unwrap();
        assert_eq!(s.get("t.items", b"k").unwrap().as_deref(), Some(&b"v2"[..]));
        // Keyspaces are independent.
        assert_eq!(s.get("t.other", b"k").unwrap(), None);
        s.put("t.items", "", "x").unwrap_err();
        s.put("t.items", "e", "").unwrap();
        assert_eq!(s.get("t.items", b"e").unwrap().as_deref(), Some(&b""[..]));
        s.delete("t.items", "k").unwrap();
        assert_eq!(s.get("t.items", b"k").unwrap(), None);
        s.delete("t.items", "never-there").unwrap();
        // Later ops in one batch win.
        let mut b = WriteBatch::new();
        b.put("t.items", "k", "a")
            .delete("t.items", "k")
            .put("t.items", "k", "b");
        s.write(b).unwrap();
        assert_eq!(s.get("t.items", b"k").unwrap().as_deref(), Some(&b"b"[..]));
    }

    pub fn invalid_input(open: Open, dir: &Path) {
        let s = open(dir);
        assert!(matches!(
            s.put("bad/name", "k", "v"),
            Err(Error::InvalidKeyspace(_))
        ));
        assert!(matches!(
            s.put("", "k", "v"),
            Err(Error::InvalidKeyspace(_))
        ));
        assert!(matches!(
            s.get("../x", b"k"),
            Err(Error::InvalidKeyspace(_))
        ));
        assert!(matches!(
            s.put("t", "", "v"),
            Err(Error::InvalidKey { len: 0, .. })
        ));
        let huge = vec![1u8; nimbus_store::MAX_KEY_LEN + 1];
        assert!(matches!(
            s.put("t", huge, "v"),
            Err(Error::InvalidKey { .. })
        ));
        let max = vec![1u8; nimbus_store::MAX_KEY_LEN];
        s.put("t", max.clone(), "v").unwrap();
        assert!(s.get("t", &max).unwrap().is_some());
        // A batch with one bad op applies nothing.
        let mut b = WriteBatch::new();
        b.put("t", "good", "v").put("t", "", "bad");
        s.write(b).unwrap_err();
        assert_eq!(s.get("t", b"good").unwrap(), None);
        // Errors render their documented message.
        let msg = s.put("t", "", "v").unwrap_err().to_string();
        assert!(msg.starts_with("invalid key: length 0"), "{msg}");
    }

    pub fn batch_atomic_across_keyspaces(open: Open, dir: &Path) {
        let s = open(dir);
        s.put("t.b", "old", "x").unwrap();
        let mut b = WriteBatch::new();
        b.put("t.a", "k1", "1")
            .put("t.b", "k2", "2")
            .delete("t.b", "old")
            .put("t.c", "k3", "3");
        assert_eq!(b.len(), 4);
        s.write(b).unwrap();
        assert_eq!(s.get("t.a", b"k1").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(s.get("t.b", b"k2").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(s.get("t.b", b"old").unwrap(), None);
        assert_eq!(s.get("t.c", b"k3").unwrap().as_deref(), Some(&b"3"[..]));
        s.write(WriteBatch::new()).unwrap();

        // A concurrent reader never sees half a batch: each batch moves a counter in two
        // keyspaces together, so every snapshot must see them equal.
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut checks = 0u32;
                while !stop.load(Ordering::Relaxed) || checks == 0 {
                    let snap = s.snapshot();
                    let a = snap.get("t.left", b"n").unwrap();
                    let b = snap.get("t.right", b"n").unwrap();
                    assert_eq!(a, b, "snapshot saw a partial batch");
                    checks += 1;
                }
                checks
            })
        };
        for i in 0..300u32 {
            let mut b = WriteBatch::new();
            b.put("t.left", "n", i.to_be_bytes())
                .put("t.right", "n", i.to_be_bytes());
            s.write(b).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    }

    pub fn snapshot_isolation(open: Open, dir: &Path) {
        let s = open(dir);
        s.put("t.a", "x", "1").unwrap();
        s.put("t.a", "z", "gone-later").unwrap();
        s.put("t.b", "y", "1").unwrap();
        let snap = s.snapshot();
        s.put("t.a", "x", "2").unwrap();
        s.put("t.a", "w", "new").unwrap();
        s.delete("t.a", "z").unwrap();
        s.put("t.b", "y", "2").unwrap();
        s.put("t.new", "k", "v").unwrap();

        assert_eq!(snap.get("t.a", b"x").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(snap.get("t.a", b"w").unwrap(), None);
        assert_eq!(
            snap.get("t.a", b"z").unwrap().as_deref(),
            Some(&b"gone-later"[..])
        );
        assert_eq!(snap.get("t.b", b"y").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(snap.get("t.new", b"k").unwrap(), None);
        assert_eq!(
            strs(
                snap.range::<&[u8], _>("t.a", .., Direction::Forward)
                    .unwrap()
            ),
            ["x", "z"]
        );
        assert_eq!(
            strs(snap.prefix("t.a", b"", Direction::Reverse).unwrap()),
            ["z", "x"]
        );
        assert!(keys(snap.prefix("t.new", b"", Direction::Forward).unwrap()).is_empty());

        assert_eq!(s.get("t.a", b"x").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(
            strs(s.range::<&[u8], _>("t.a", .., Direction::Forward).unwrap()),
            ["w", "x"]
        );
        // A scan started before a write does not see it either.
        let scan = s.prefix("t.a", b"", Direction::Forward).unwrap();
        s.put("t.a", "a-first", "v").unwrap();
        assert_eq!(strs(scan), ["w", "x"]);
    }

    pub fn range_scans(open: Open, dir: &Path) {
        let s = open(dir);
        for k in ["a", "b", "c", "d", "e"] {
            s.put("t.r", k, format!("v{k}")).unwrap();
        }
        let snap = s.snapshot();
        s.put("t.r", "bb", "later").unwrap(); // visible to the store, not the snapshot
        let fwd = Direction::Forward;
        let rev = Direction::Reverse;
        let ex = |k: &str| Bound::Excluded(k.as_bytes().to_vec());
        let inc = |k: &str| Bound::Included(k.as_bytes().to_vec());

        assert_eq!(
            strs(s.range("t.r", "b".."d", fwd).unwrap()),
            ["b", "bb", "c"]
        );
        assert_eq!(
            strs(s.range("t.r", "b"..="d", fwd).unwrap()),
            ["b", "bb", "c", "d"]
        );
        assert_eq!(
            strs(s.range("t.r", "b"..="d", rev).unwrap()),
            ["d", "c", "bb", "b"]
        );
        assert_eq!(
            strs(s.range("t.r", (ex("b"), inc("d")), fwd).unwrap()),
            ["bb", "c", "d"]
        );
        assert_eq!(
            strs(s.range("t.r", (ex("b"), ex("d")), rev).unwrap()),
            ["c", "bb"]
        );
        assert_eq!(strs(s.range("t.r", .."c", fwd).unwrap()), ["a", "b", "bb"]);
        assert_eq!(strs(s.range("t.r", "c".., rev).unwrap()), ["e", "d", "c"]);
        assert_eq!(
            strs(s.range::<&str, _>("t.r", .., rev).unwrap()),
            ["e", "d", "c", "bb", "b", "a"]
        );
        // Bounds between keys and beyond the ends.
        assert_eq!(strs(s.range("t.r", "ba"..="cz", fwd).unwrap()), ["bb", "c"]);
        assert_eq!(
            strs(s.range("t.r", "f".., fwd).unwrap()),
            Vec::<String>::new()
        );
        // Empty and inverted ranges are empty, not errors or panics.
        assert!(strs(s.range("t.r", "c".."c", fwd).unwrap()).is_empty());
        assert!(strs(s.range("t.r", (ex("c"), inc("c")), rev).unwrap()).is_empty());
        assert!(strs(s.range("t.r", "d"..="b", fwd).unwrap()).is_empty());
        assert_eq!(strs(s.range("t.r", "c"..="c", fwd).unwrap()), ["c"]);

        // The same on the snapshot, which predates "bb".
        assert_eq!(
            strs(snap.range("t.r", "b"..="d", fwd).unwrap()),
            ["b", "c", "d"]
        );
        assert_eq!(
            strs(snap.range("t.r", (ex("a"), ex("e")), rev).unwrap()),
            ["d", "c", "b"]
        );
        assert!(strs(snap.range("t.r", "e".."a", rev).unwrap()).is_empty());

        // Values come with keys; early stop via the callback.
        let first = s.range("t.r", "c".., fwd).unwrap().next().unwrap().unwrap();
        assert_eq!(first, (b"c".to_vec(), b"vc".to_vec()));
        let mut seen = Vec::new();
        s.range::<&str, _>("t.r", .., rev)
            .unwrap()
            .for_each_until(|k, _| {
                seen.push(k.to_vec());
                if seen.len() == 2 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(seen, [b"e".to_vec(), b"d".to_vec()]);
    }

    pub fn prefix_scans(open: Open, dir: &Path) {
        let s = open(dir);
        let all: Vec<Vec<u8>> = vec![
            vec![0x00],
            vec![0x01],
            vec![0x01, 0xFF],
            vec![0x01, 0xFF, 0x00],
            vec![0x01, 0xFF, 0xFF],
            vec![0x02],
            vec![0x02, 0x00],
            vec![0xFF],
            vec![0xFF, 0x00],
            vec![0xFF, 0xFF],
            vec![0xFF, 0xFF, 0xFF, 0x01],
        ];
        for k in &all {
            s.put("t.p", k.clone(), "v").unwrap();
        }
        let snap = s.snapshot();
        let check = |prefix: &[u8], want: &[&[u8]]| {
            let want: Vec<Vec<u8>> = want.iter().map(|k| k.to_vec()).collect();
            let mut want_rev = want.clone();
            want_rev.reverse();
            assert_eq!(
                keys(s.prefix("t.p", prefix, Direction::Forward).unwrap()),
                want,
                "{prefix:x?}"
            );
            assert_eq!(
                keys(s.prefix("t.p", prefix, Direction::Reverse).unwrap()),
                want_rev,
                "{prefix:x?}"
            );
            assert_eq!(
                keys(snap.prefix("t.p", prefix, Direction::Forward).unwrap()),
                want,
                "{prefix:x?}"
            );
            assert_eq!(
                keys(snap.prefix("t.p", prefix, Direction::Reverse).unwrap()),
                want_rev,
                "{prefix:x?}"
            );
        };
        check(
            &[0x01],
            &[
                &[0x01],
                &[0x01, 0xFF],
                &[0x01, 0xFF, 0x00],
                &[0x01, 0xFF, 0xFF],
            ],
        );
        check(
            &[0x01, 0xFF],
            &[&[0x01, 0xFF], &[0x01, 0xFF, 0x00], &[0x01, 0xFF, 0xFF]],
        );
        check(&[0x01, 0xFF, 0xFF], &[&[0x01, 0xFF, 0xFF]]);
        check(
            &[0xFF],
            &[
                &[0xFF],
                &[0xFF, 0x00],
                &[0xFF, 0xFF],
                &[0xFF, 0xFF, 0xFF, 0x01],
            ],
        );
        check(&[0xFF, 0xFF], &[&[0xFF, 0xFF], &[0xFF, 0xFF, 0xFF, 0x01]]);
        check(&[0xFF, 0xFF, 0xFF], &[&[0xFF, 0xFF, 0xFF, 0x01]]);
        check(&[0xFF, 0xFF, 0xFF, 0xFF], &[]);
        check(&[0x03], &[]);
        let everything: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
        check(&[], &everything);
    }

    pub fn empty_keyspace(open: Open, dir: &Path) {
        let s = open(dir);
        assert_eq!(s.get("t.never", b"k").unwrap(), None);
        assert!(keys(s.prefix("t.never", b"", Direction::Forward).unwrap()).is_empty());
        assert!(keys(
            s.range::<&str, _>("t.never", .., Direction::Reverse)
                .unwrap()
        )
        .is_empty());
        let snap = s.snapshot();
        assert_eq!(snap.get("t.never", b"k").unwrap(), None);
        assert!(keys(
            snap.range::<&str, _>("t.never", .., Direction::Forward)
                .unwrap()
        )
        .is_empty());
        // Emptied by deletes.
        s.put("t.emptied", "a", "1").unwrap();
        s.put("t.emptied", "b", "2").unwrap();
        s.delete("t.emptied", "a").unwrap();
        s.delete("t.emptied", "b").unwrap();
        assert!(keys(
            s.range::<&str, _>("t.emptied", .., Direction::Forward)
                .unwrap()
        )
        .is_empty());
        assert!(keys(s.prefix("t.emptied", b"", Direction::Reverse).unwrap()).is_empty());
    }

    pub fn large_values(open: Open, dir: &Path) {
        let s = open(dir);
        let big: Vec<u8> = (0..1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();
        s.put("t.big", "one", big.clone()).unwrap();
        let mut b = WriteBatch::new();
        b.put("t.big", "two", big.clone())
            .put("t.big", "three", big.clone());
        s.write(b).unwrap();
        assert_eq!(
            s.get("t.big", b"one").unwrap().as_deref(),
            Some(big.as_slice())
        );
        let scanned: Vec<_> = s
            .prefix("t.big", b"t", Direction::Forward)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(scanned.len(), 2);
        assert!(scanned.iter().all(|(_, v)| v == &big));
    }

    pub fn concurrent_writers(open: Open, dir: &Path) {
        let s = open(dir);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        s.put("t.conc", format!("{t}/{i:03}"), "v").unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(
            s.prefix("t.conc", b"", Direction::Forward).unwrap().count(),
            400
        );
        assert_eq!(
            s.prefix("t.conc", b"2/", Direction::Forward)
                .unwrap()
                .count(),
            100
        );
    }

    pub fn reopen_persistence(open: Open, dir: &Path) {
        {
            let s = open(dir);
            s.put("t.a", "keep", "1").unwrap();
            s.put("t.a", "drop", "1").unwrap();
            s.delete("t.a", "drop").unwrap();
            let mut b = WriteBatch::new();
            b.put("t.b", "x", vec![9u8; 100_000]).put("t.c", "y", "z");
            s.write(b).unwrap();
            s.blobs().put("lambda/fn1", &b"zipdata"[..]).unwrap();
        }
        let s = open(dir);
        assert_eq!(s.get("t.a", b"keep").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(s.get("t.a", b"drop").unwrap(), None);
        assert_eq!(s.get("t.b", b"x").unwrap().map(|v| v.len()), Some(100_000));
        assert_eq!(
            strs(s.prefix("t.c", b"", Direction::Forward).unwrap()),
            ["y"]
        );
        assert_eq!(
            s.blobs()
                .get("lambda/fn1")
                .unwrap()
                .unwrap()
                .read_to_vec()
                .unwrap(),
            b"zipdata"
        );
        drop(s);
        // And once more, after writes on the reopened store.
        let s = open(dir);
        s.put("t.a", "second", "2").unwrap();
        drop(s);
        let s = open(dir);
        assert_eq!(
            strs(s.prefix("t.a", b"", Direction::Forward).unwrap()),
            ["keep", "second"]
        );
    }

    pub fn blobs(open: Open, dir: &Path) {
        let s = open(dir);
        let blobs = s.blobs();
        assert!(blobs.get("lambda/abc123").unwrap().is_none());
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 256) as u8).collect();
        assert_eq!(
            blobs.put("lambda/abc123", data.as_slice()).unwrap(),
            data.len() as u64
        );
        let blob = blobs.get("lambda/abc123").unwrap().unwrap();
        assert_eq!(blob.len(), data.len() as u64);
        assert_eq!(blob.read_to_vec().unwrap(), data);

        // Streaming writer: invisible until finished, replaces the old blob.
        let mut w = blobs.writer("lambda/abc123").unwrap();
        w.write_all(b"new ").unwrap();
        w.write_all(b"content").unwrap();
        assert_eq!(
            blobs.get("lambda/abc123").unwrap().unwrap().len(),
            data.len() as u64
        );
        assert_eq!(w.finish().unwrap(), 11);
        let mut out = String::new();
        blobs
            .get("lambda/abc123")
            .unwrap()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "new content");

        // An abandoned writer leaves nothing behind.
        let mut w = blobs.writer("s3/bucket/key").unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert!(blobs.get("s3/bucket/key").unwrap().is_none());

        // Empty blobs, nested ids, and a directory prefix is not a blob.
        blobs.put("s3/bucket/empty", std::io::empty()).unwrap();
        assert!(blobs.get("s3/bucket/empty").unwrap().unwrap().is_empty());
        assert!(blobs.get("s3/bucket").unwrap().is_none());

        assert!(blobs.delete("lambda/abc123").unwrap());
        assert!(!blobs.delete("lambda/abc123").unwrap());
        assert!(blobs.get("lambda/abc123").unwrap().is_none());
    }

    pub fn blob_path_escape(open: Open, dir: &Path) {
        let s = open(dir);
        let blobs = s.blobs();
        let bad = [
            "",
            "..",
            "../x",
            "a/../../b",
            "a/..",
            "./a",
            "a/./b",
            "/etc/passwd",
            "a//b",
            "a/",
            ".tmp/x",
            ".hidden",
            "a\\..\\b",
            "a\0b",
            "a b",
            "ü",
            "C:x",
        ];
        for id in bad {
            assert!(
                matches!(blobs.put(id, &b"x"[..]), Err(Error::InvalidBlobId(_))),
                "put {id:?}"
            );
            assert!(
                matches!(blobs.writer(id), Err(Error::InvalidBlobId(_))),
                "writer {id:?}"
            );
            assert!(
                matches!(blobs.get(id), Err(Error::InvalidBlobId(_))),
                "get {id:?}"
            );
            assert!(
                matches!(blobs.delete(id), Err(Error::InvalidBlobId(_))),
                "delete {id:?}"
            );
        }
        let long = "a".repeat(nimbus_store::MAX_BLOB_ID_LEN + 1);
        assert!(matches!(
            blobs.put(&long, &b"x"[..]),
            Err(Error::InvalidBlobId(_))
        ));
        // Allowed characters, dots inside a segment included.
        blobs.put("a-b_c.d=e+f/v1.2.zip", &b"ok"[..]).unwrap();
        assert!(blobs.get("a-b_c.d=e+f/v1.2.zip").unwrap().is_some());
    }

    pub fn blob_temp_cleanup(open: Open, dir: &Path) {
        let s = open(dir);
        let mut w = s.blobs().writer("x/y").unwrap();
        w.write_all(b"half").unwrap();
        // Simulate a crash mid-write: the writer never finishes nor runs its Drop.
        std::mem::forget(w);
        drop(s);
        let tmp = dir.join("blobs/.tmp");
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 1);
        let s = open(dir);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        assert!(s.blobs().get("x/y").unwrap().is_none());
    }
}

/// Instantiates every case for one backend. `persistent` backends also run the cases that
/// reopen the same directory.
macro_rules! suite {
    ($backend:ident, $open:expr, persistent: $persistent:tt) => {
        mod $backend {
            use super::*;

            fn run(case: fn(Open, &Path)) {
                let dir = tempfile::tempdir().unwrap();
                case($open, dir.path());
            }

            suite!(@cases $persistent;
                get_put_delete, invalid_input, batch_atomic_across_keyspaces, snapshot_isolation,
                range_scans, prefix_scans, empty_keyspace, large_values, concurrent_writers,
                blobs, blob_path_escape);
        }
    };
    (@cases true; $($case:ident),*) => {
        suite!(@cases false; $($case),*);
        #[test] fn reopen_persistence() { run(cases::reopen_persistence) }
        #[test] fn blob_temp_cleanup() { run(cases::blob_temp_cleanup) }
    };
    (@cases false; $($case:ident),*) => {
        $( #[test] fn $case() { run(cases::$case) } )*
    };
}

fn open_os(dir: &Path) -> Store {
    Store::open(StoreConfig::new(dir)).unwrap()
}

fn open_fsync(dir: &Path) -> Store {
    Store::open(StoreConfig::new(dir).durability(Durability::Fsync)).unwrap()
}

fn open_temporary(_dir: &Path) -> Store {
    Store::temporary().unwrap()
}

suite!(fjall_os, open_os, persistent: true);
suite!(fjall_fsync, open_fsync, persistent: true);
suite!(temporary, open_temporary, persistent: false);
