//! Builds `runtimes/nodejs/fork.c` into `nimbus_fork.node`, the N-API addon Node.js
//! snapshot templates fork with (embedded by `runtimes.rs`). It needs only a C compiler:
//! the N-API and libuv functions it calls are declared in the source and resolved from the
//! node executable when Node loads the addon. Without a working compiler (or off Linux) an
//! empty file is embedded and Node.js environments start normally.

use std::path::PathBuf;

fn main() {
    let src = PathBuf::from("../../runtimes/nodejs/fork.c");
    println!("cargo:rerun-if-changed={}", src.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("nimbus_fork.node");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").map(|os| os == "linux").unwrap_or(false);
    let built = linux && build(&src, &out);
    if !built {
        std::fs::write(&out, b"").expect("write OUT_DIR/nimbus_fork.node");
    }
}

fn build(src: &PathBuf, out: &PathBuf) -> bool {
    let tool = match cc::Build::new().pic(true).opt_level(2).cargo_metadata(false).try_get_compiler() {
        Ok(t) => t,
        Err(e) => {
            println!("cargo:warning=no C compiler for the Node.js snapshot addon ({e}); Node.js functions start without snapshots");
            return false;
        }
    };
    let mut cmd = tool.to_command();
    cmd.args(["-shared", "-fPIC", "-O2", "-Wall", "-o"]).arg(out).arg(src);
    match cmd.status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            println!("cargo:warning=compiling {} failed ({s}); Node.js functions start without snapshots", src.display());
            false
        }
        Err(e) => {
            println!("cargo:warning=cannot run the C compiler for {} ({e}); Node.js functions start without snapshots", src.display());
            false
        }
    }
}
