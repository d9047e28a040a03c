//! The generated model code checked in under `nimbus-model/src/{services,types}` must
//! be exactly what the generator makes from `models/`.

use std::collections::BTreeSet;
use std::path::Path;

const HINT: &str = "generated code is stale: run `scripts/update-models.sh` \
                    (or `cargo run -p nimbus-codegen` when only the generator changed)";

#[test]
fn generated_code_is_fresh() {
    let root = nimbus_codegen::workspace_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = nimbus_codegen::generate_to(&root.join("models"), tmp.path()).expect("generate");
    let checked_in = root.join("crates/nimbus-model/src");
    let mut problems = Vec::new();
    for rel in files.keys() {
        let fresh = std::fs::read(tmp.path().join(rel)).expect("generated file");
        match std::fs::read(checked_in.join(rel)) {
            Ok(old) if old == fresh => {}
            Ok(_) => problems.push(format!("differs: {rel}")),
            Err(_) => problems.push(format!("missing: {rel}")),
        }
    }
    for dir in nimbus_codegen::GENERATED_DIRS {
        for rel in rs_files(&checked_in, dir) {
            if !files.contains_key(&rel) {
                problems.push(format!("stale extra file: {rel}"));
            }
        }
    }
    assert!(problems.is_empty(), "{HINT}\n  {}", problems.join("\n  "));
}

#[test]
fn generation_is_deterministic() {
    let models = nimbus_codegen::workspace_root().join("models");
    let a = nimbus_codegen::generate(&models).expect("generate");
    let b = nimbus_codegen::generate(&models).expect("generate");
    assert_eq!(a, b);
}

fn rs_files(src: &Path, dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(src.join(dir))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".rs"))
                .map(|n| format!("{dir}/{n}"))
                .collect()
        })
        .unwrap_or_default()
}
