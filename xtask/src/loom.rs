//! `cargo xtask loom`: finds every crate under `crates/` with loom models and runs them.
//!
//! A crate has models if `tests/loom.rs` exists (run as `--test loom`) and/or if a file under
//! `src/` has a `#[cfg(all(test, tidewater_loom))]` gate (run as `--lib -- loom`, so those
//! models must sit in a module whose path contains `loom`). Nothing is listed by hand: a new
//! crate's models run as soon as they exist.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use crate::steps::Outcome;
use crate::workspace::{self, Package, Workspace};

/// Where one crate keeps its loom models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoomCrate {
    pub(crate) package: String,
    /// `tests/loom.rs` exists.
    pub(crate) integration: bool,
    /// Some file under `src/` holds a `cfg(all(test, tidewater_loom))` gate.
    pub(crate) in_src: bool,
}

/// Where a crate's models live, which decides how cargo runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `tests/loom.rs`: `--test loom`.
    Integration,
    /// Modules in src: `--lib -- loom`.
    InSrc,
}

/// The cargo arguments that run the models of `kind` in `packages`, in one invocation.
pub(crate) fn invocation(packages: &[&str], kind: Kind) -> Vec<String> {
    let mut args: Vec<String> = ["test", "--release", "--no-fail-fast"]
        .map(String::from)
        .to_vec();
    for package in packages {
        args.extend(["-p".to_string(), (*package).to_string()]);
    }
    match kind {
        Kind::Integration => args.extend(["--test", "loom"].map(String::from)),
        Kind::InSrc => args.extend(["--lib", "--", "loom"].map(String::from)),
    }
    args
}

/// The packages cargo names in "error: test failed, to rerun pass `-p NAME --test loom`".
pub(crate) fn rerun_hints(stderr: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in stderr.lines() {
        if let Some((_, rest)) = line.split_once("to rerun pass `-p ") {
            let name: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '`')
                .collect();
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

impl LoomCrate {
    fn has(&self, kind: Kind) -> bool {
        match kind {
            Kind::Integration => self.integration,
            Kind::InSrc => self.in_src,
        }
    }
}

/// True if `source` has a `cfg(all(...))` whose items include both `test` and `tidewater_loom`.
pub(crate) fn has_loom_gate(source: &str) -> bool {
    let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let mut rest = compact.as_str();
    while let Some(start) = rest.find("cfg(all(") {
        let inner = &rest[start + "cfg(all(".len()..];
        let items = top_level_items(inner);
        if items.contains(&"test") && items.contains(&"tidewater_loom") {
            return true;
        }
        rest = inner;
    }
    false
}

/// The comma-separated items of an argument list up to its closing parenthesis.
fn top_level_items(list: &str) -> Vec<&str> {
    let (mut items, mut depth, mut item_start) = (Vec::new(), 0usize, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                items.push(&list[item_start..i]);
                return items;
            }
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&list[item_start..i]);
                item_start = i + 1;
            }
            _ => {}
        }
    }
    items
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crates under `<root>/crates` that have loom models, sorted by package name.
pub(crate) fn discover(root: &Path, packages: &[Package]) -> Vec<LoomCrate> {
    let crates_dir = root.join("crates");
    let mut found: Vec<LoomCrate> = packages
        .iter()
        .filter(|p| p.dir().starts_with(&crates_dir))
        .filter_map(|p| {
            let integration = p.dir().join("tests").join("loom.rs").is_file();
            let mut files = Vec::new();
            rust_files(&p.dir().join("src"), &mut files);
            let in_src = files
                .iter()
                .any(|f| fs::read_to_string(f).is_ok_and(|text| has_loom_gate(&text)));
            (integration || in_src).then(|| LoomCrate {
                package: p.name.clone(),
                integration,
                in_src,
            })
        })
        .collect();
    found.sort_by(|a, b| a.package.cmp(&b.package));
    found
}

/// The crates with models as a JSON array of package names (for a CI job matrix).
pub(crate) fn list_json(ws: &Workspace) -> Result<String, String> {
    let crates = discover(&ws.root, &ws.packages()?);
    let names: Vec<String> = crates
        .iter()
        .map(|c| crate::json::quote(&c.package))
        .collect();
    Ok(format!("[{}]", names.join(",")))
}

/// Runs every discovered model (or only `only`'s); a failing crate does not stop the others.
pub(crate) fn run(ws: &Workspace, only: Option<&str>) -> Result<Outcome, String> {
    let packages = ws.packages()?;
    let mut crates = discover(&ws.root, &packages);
    if let Some(only) = only {
        crates.retain(|c| c.package == only);
        if crates.is_empty() {
            return Err(format!(
                "`{only}` is not a package under crates/ with loom models (see `cargo xtask loom --list`)"
            ));
        }
    }
    if crates.is_empty() {
        return Ok(Outcome::Skipped(
            "no crate under crates/ has loom models yet".into(),
        ));
    }
    let preemptions = env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "2".into());
    let rustflags = match env::var("RUSTFLAGS") {
        Ok(existing) if !existing.trim().is_empty() => format!("{existing} --cfg tidewater_loom"),
        _ => "--cfg tidewater_loom".to_string(),
    };
    // A separate target dir: RUSTFLAGS changes invalidate every artifact, and the normal
    // build cache should survive a loom run.
    let target = env::var_os("XTASK_LOOM_TARGET_DIR")
        .map_or_else(|| ws.target_dir.join("loom"), PathBuf::from);
    println!(
        "loom models found in {} crate(s), LOOM_MAX_PREEMPTIONS={preemptions}:",
        crates.len()
    );
    for c in &crates {
        let kinds: Vec<&str> = [
            (c.integration, "tests/loom.rs"),
            (c.in_src, "src (cfg(all(test, tidewater_loom)))"),
        ]
        .iter()
        .filter_map(|(on, label)| on.then_some(*label))
        .collect();
        println!("  {:<28} {}", c.package, kinds.join(" + "));
    }
    let run = |args: &[String]| {
        let mut command = ws.cargo();
        command
            .env("RUSTFLAGS", &rustflags)
            .env("LOOM_MAX_PREEMPTIONS", &preemptions)
            .env("CARGO_TARGET_DIR", &target)
            .args(args);
        workspace::run_teeing_stderr(&mut command)
    };
    // One cargo call per kind for all crates: cargo unifies features across the packages of
    // one call, so separate calls per crate would rebuild tokio & co. several times.
    // `--no-fail-fast` runs every crate's models; cargo names each failing one ("to rerun
    // pass `-p ...`"). If it names none (a crate did not compile), the crates are rerun one
    // by one, so the others' models still run and the failing crate is named.
    let mut failed = Vec::new();
    for kind in [Kind::Integration, Kind::InSrc] {
        let group: Vec<&str> = crates
            .iter()
            .filter(|c| c.has(kind))
            .map(|c| c.package.as_str())
            .collect();
        if group.is_empty() {
            continue;
        }
        let (ok, stderr) = run(&invocation(&group, kind))?;
        if ok {
            continue;
        }
        let named = rerun_hints(&stderr);
        if !named.is_empty() || group.len() == 1 {
            let names = if named.is_empty() {
                vec![group[0].to_string()]
            } else {
                named
            };
            failed.extend(names.into_iter().map(|p| format!("{p} ({kind:?})")));
            continue;
        }
        println!("loom: the combined build failed; rerunning crate by crate to find which");
        for package in group {
            if !run(&invocation(&[package], kind))?.0 {
                failed.push(format!("{package} ({kind:?})"));
            }
        }
    }
    if failed.is_empty() {
        Ok(Outcome::Passed)
    } else {
        Err(format!("loom models failed: {}", failed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_test_and_loom_gate_in_either_order_and_layout() {
        assert!(has_loom_gate(
            "#[cfg(all(test, tidewater_loom))]\nmod loom_ring;"
        ));
        assert!(has_loom_gate(
            "#[cfg(all(\n    tidewater_loom,\n    test\n))]"
        ));
        assert!(has_loom_gate(
            "#[cfg(all(test, tidewater_loom, feature = \"x\"))]"
        ));
        assert!(has_loom_gate(
            "#[cfg(not(x))] fn a() {}\n#[cfg(all(test, tidewater_loom))] mod m {}"
        ));
    }

    #[test]
    fn ignores_gates_that_do_not_select_loom_tests() {
        assert!(!has_loom_gate("#[cfg(all(test, not(tidewater_loom)))]"));
        assert!(!has_loom_gate(
            "#[cfg(tidewater_loom)] use loom::sync::Arc;"
        ));
        assert!(!has_loom_gate(
            "#[cfg(all(test, feature = \"tidewater_loom_like\"))]"
        ));
        assert!(!has_loom_gate("#[cfg(all(test"));
        assert!(!has_loom_gate(""));
    }

    #[test]
    fn plans_one_invocation_per_kind_of_model() {
        assert_eq!(
            invocation(&["tidewater-a", "tidewater-b"], Kind::Integration).join(" "),
            "test --release --no-fail-fast -p tidewater-a -p tidewater-b --test loom"
        );
        assert_eq!(
            invocation(&["tidewater-x"], Kind::InSrc).join(" "),
            "test --release --no-fail-fast -p tidewater-x --lib -- loom"
        );
        let both = LoomCrate {
            package: "x".into(),
            integration: true,
            in_src: true,
        };
        assert!(both.has(Kind::Integration) && both.has(Kind::InSrc));
        let src_only = LoomCrate {
            package: "y".into(),
            integration: false,
            in_src: true,
        };
        assert!(!src_only.has(Kind::Integration));
    }

    #[test]
    fn reads_which_crates_failed_from_cargo() {
        let stderr = "running 4 tests\nerror: test failed, to rerun pass `-p tidewater-worker-pool --test loom`\n\
                      error: test failed, to rerun pass `-p tidewater-shutdown --test loom`\nerror: 2 targets failed:\n";
        assert_eq!(
            rerun_hints(stderr),
            ["tidewater-worker-pool", "tidewater-shutdown"]
        );
        assert!(
            rerun_hints("error[E0433]: failed to resolve\nerror: could not compile `x`").is_empty()
        );
    }

    #[test]
    fn discovers_crates_on_disk() {
        let root = env::temp_dir().join(format!("xtask-loom-discovery-{}", std::process::id()));
        let make = |dir: &str, files: &[(&str, &str)]| {
            for (path, text) in files {
                let file = root.join("crates").join(dir).join(path);
                fs::create_dir_all(file.parent().unwrap()).unwrap();
                fs::write(file, text).unwrap();
            }
            Package {
                name: format!("tidewater-{dir}"),
                manifest_path: root.join("crates").join(dir).join("Cargo.toml"),
                ..Package::default()
            }
        };
        let packages = vec![
            make(
                "b-src",
                &[
                    ("src/lib.rs", "mod ring;"),
                    (
                        "src/ring/tests.rs",
                        "#[cfg(all(test, tidewater_loom))] mod loom_ring {}",
                    ),
                ],
            ),
            make(
                "a-int",
                &[
                    ("src/lib.rs", ""),
                    ("tests/loom.rs", "#![cfg(tidewater_loom)]"),
                ],
            ),
            make(
                "c-none",
                &[(
                    "src/lib.rs",
                    "#[cfg(all(test, not(tidewater_loom)))] mod t {}",
                )],
            ),
            Package {
                name: "outside".into(),
                manifest_path: root.join("benches/Cargo.toml"),
                ..Package::default()
            },
        ];
        let found = discover(&root, &packages);
        let _ = fs::remove_dir_all(&root);
        assert_eq!(
            found,
            vec![
                LoomCrate {
                    package: "tidewater-a-int".into(),
                    integration: true,
                    in_src: false
                },
                LoomCrate {
                    package: "tidewater-b-src".into(),
                    integration: false,
                    in_src: true
                },
            ]
        );
    }
}
