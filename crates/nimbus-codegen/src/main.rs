//! `cargo run -p nimbus-codegen [-- MODELS_DIR OUT_SRC_DIR]`: regenerate
//! `crates/nimbus-model/src/{services,types}` from `models/`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = nimbus_codegen::workspace_root();
    let mut args = std::env::args_os().skip(1);
    let models = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models"));
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("crates/nimbus-model/src"));
    match nimbus_codegen::generate_to(&models, &out) {
        Ok(files) => {
            let lines: usize = files.values().map(|s| s.lines().count()).sum();
            println!(
                "wrote {} files ({} lines) under {}",
                files.len(),
                lines,
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nimbus-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}
