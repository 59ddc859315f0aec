//! Builds the web console so that `cargo run` serves it: when `console/dist` is missing or
//! older than the console's sources, runs `npm ci` (only when `console/node_modules` is
//! missing) and `npm run build` in `console/`.
//!
//! Never fails the Rust build: without npm, or when the console build fails, it prints a
//! cargo warning and the server answers `/` with a page saying how to build the console.
//! `REMOTEGPU_SKIP_CONSOLE_BUILD=1` skips it (CI jobs that only need the Rust code, or a
//! console built and deployed separately).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// What a console build reads, relative to `console/`.
const SOURCES: [&str; 8] = [
    "src",
    "index.html",
    "graphiql.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
    "codegen.ts",
];

fn main() {
    println!("cargo:rerun-if-env-changed=REMOTEGPU_SKIP_CONSOLE_BUILD");
    let Some(root) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return;
    };
    let console = root.join("console");
    if !console.join("package.json").is_file() {
        return;
    }
    for source in SOURCES {
        println!("cargo:rerun-if-changed=console/{source}");
    }
    let skip = std::env::var("REMOTEGPU_SKIP_CONSOLE_BUILD").unwrap_or_default();
    if !skip.is_empty() && skip != "0" {
        return;
    }
    let built = newest(&console.join("dist").join("index.html"));
    let sources = SOURCES
        .iter()
        .filter_map(|s| newest(&console.join(s)))
        .max();
    if let (Some(built), Some(sources)) = (built, sources) {
        if built >= sources {
            return;
        }
    }
    if let Err(message) = build(&console) {
        for line in message.lines() {
            println!("cargo:warning={line}");
        }
        println!(
            "cargo:warning=the server will answer / with how to build the console \
             (cd console && npm ci && npm run build)"
        );
    }
}

fn build(console: &Path) -> Result<(), String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    match Command::new(npm).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => return Err("npm not found: the web console was not built".into()),
    }
    if !console.join("node_modules").is_dir() {
        run(console, npm, &["ci", "--no-audit", "--no-fund"])?;
    }
    run(console, npm, &["run", "build"])
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
    let tail = tail[tail.len().saturating_sub(15)..].join("\n");
    Err(format!(
        "`{program} {}` in console/ failed ({}):\n{tail}",
        args.join(" "),
        out.status
    ))
}

/// The newest modification time of a file, or of any file under a directory.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| newest(&entry.path()))
        .max()
}
