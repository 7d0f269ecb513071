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

/// The cargo arguments that run this crate's models, one invocation per kind.
impl LoomCrate {
    pub(crate) fn invocations(&self) -> Vec<Vec<String>> {
        let mut runs = Vec::new();
        let base = ["test", "--release", "-p", &self.package];
        if self.integration {
            runs.push(
                base.iter()
                    .map(|s| (*s).to_string())
                    .chain(["--test".into(), "loom".into()])
                    .collect(),
            );
        }
        if self.in_src {
            runs.push(
                base.iter()
                    .map(|s| (*s).to_string())
                    .chain(["--lib".into(), "--".into(), "loom".into()])
                    .collect(),
            );
        }
        runs
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
    let mut failed = Vec::new();
    for c in &crates {
        for args in c.invocations() {
            let mut command = ws.cargo();
            command
                .env("RUSTFLAGS", &rustflags)
                .env("LOOM_MAX_PREEMPTIONS", &preemptions)
                .env("CARGO_TARGET_DIR", &target)
                .args(&args);
            if workspace::run(&mut command).is_err() {
                failed.push(format!("{} ({})", c.package, args[4..].join(" ")));
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
        let both = LoomCrate {
            package: "tidewater-x".into(),
            integration: true,
            in_src: true,
        };
        let runs = both.invocations();
        assert_eq!(
            runs[0].join(" "),
            "test --release -p tidewater-x --test loom"
        );
        assert_eq!(
            runs[1].join(" "),
            "test --release -p tidewater-x --lib -- loom"
        );
        let none = LoomCrate {
            package: "y".into(),
            integration: false,
            in_src: false,
        };
        assert!(none.invocations().is_empty());
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
