//! `cargo xtask publish-check`: every publishable crate has the metadata crates.io and users
//! need, builds with each of its features alone, and packages cleanly.
//!
//! Packaging first tries `cargo publish --workspace --dry-run`, which packages every crate in
//! dependency order and verifies each build. If that fails only because a crate depends on a
//! sibling tidewater crate that is not on crates.io yet (or this cargo predates
//! `publish --workspace`), the check packages crate by crate: a crate without such a dependency
//! with `cargo package -p X` (verified); a crate with one together with its unpublished siblings,
//! `cargo package -p X -p SIBLING` (cargo resolves the siblings from the packages it just built,
//! so it is verified too); and only if that fails, with `--no-verify --exclude-lockfile`, saying
//! so. `XTASK_PUBLISH_PER_CRATE=1` skips straight to the per-crate packaging.

use std::path::Path;

use crate::steps::Outcome;
use crate::workspace::{self, DepKind, Package, Workspace};

/// crates.io's keyword rules: at most 5, each 1-20 ASCII characters, starting with a letter,
/// made of letters, digits, `_`, `-` or `+`.
fn keyword_problem(keyword: &str) -> Option<String> {
    let valid_chars = keyword
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'));
    let starts_with_letter = keyword
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    if keyword.is_empty() || keyword.len() > 20 || !valid_chars || !starts_with_letter {
        Some(format!(
            "keyword `{keyword}` is not valid on crates.io (1-20 ASCII letters, digits, `_-+`, starting with a letter)"
        ))
    } else {
        None
    }
}

fn missing(field: Option<&String>) -> bool {
    field.is_none_or(|v| v.trim().is_empty())
}

/// Everything wrong with a publishable package's metadata (empty when it is ready).
/// `exists` answers whether a path exists (a parameter so tests need no files).
pub(crate) fn metadata_problems(
    package: &Package,
    siblings: &[Package],
    exists: &dyn Fn(&Path) -> bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    if missing(package.description.as_ref()) {
        problems.push("no `description`".to_string());
    }
    if missing(package.license.as_ref()) && missing(package.license_file.as_ref()) {
        problems.push("no `license` (or `license-file`)".to_string());
    }
    if missing(package.repository.as_ref()) {
        problems.push("no `repository`".to_string());
    }
    match &package.readme {
        None => {
            problems.push("no `readme` (add README.md and `readme = \"README.md\"`)".to_string());
        }
        Some(readme) if !exists(&package.dir().join(readme)) => {
            problems.push(format!(
                "`readme = \"{readme}\"` but that file does not exist"
            ));
        }
        Some(_) => {}
    }
    if !exists(&package.dir().join("CHANGELOG.md")) {
        problems.push("no CHANGELOG.md next to Cargo.toml".to_string());
    }
    if package.keywords.is_empty() {
        problems.push("no `keywords`".to_string());
    } else if package.keywords.len() > 5 {
        problems.push(format!(
            "{} keywords; crates.io accepts at most 5",
            package.keywords.len()
        ));
    }
    problems.extend(package.keywords.iter().filter_map(|k| keyword_problem(k)));
    if package.categories.is_empty() {
        problems.push("no `categories`".to_string());
    }
    if missing(package.rust_version.as_ref()) {
        problems
            .push("no `rust-version` (inherit it: `rust-version.workspace = true`)".to_string());
    }
    for dep in &package.dependencies {
        let sibling = siblings.iter().any(|s| s.name == dep.name);
        if dep.kind != DepKind::Dev && sibling && dep.path.is_some() && dep.req == "*" {
            problems.push(format!(
                "dependency `{}` has a path but no `version`; crates.io needs both",
                dep.name
            ));
        }
    }
    problems
}

/// Every publishable sibling `package` needs at build time, directly or through other siblings.
pub(crate) fn sibling_closure<'a>(
    package: &'a Package,
    publishable: &[&'a Package],
) -> Vec<&'a str> {
    let mut found: Vec<&str> = Vec::new();
    let mut queue = vec![package];
    while let Some(next) = queue.pop() {
        for name in sibling_dependencies(next, publishable) {
            if !found.contains(&name) && name != package.name {
                found.push(name);
                queue.extend(publishable.iter().copied().filter(|p| p.name == name));
            }
        }
    }
    found
}

/// Publishable siblings that `package` needs at build time (normal or build dependencies).
pub(crate) fn sibling_dependencies<'a>(
    package: &'a Package,
    publishable: &[&Package],
) -> Vec<&'a str> {
    package
        .dependencies
        .iter()
        .filter(|d| {
            d.kind != DepKind::Dev
                && d.path.is_some()
                && publishable.iter().any(|p| p.name == d.name)
        })
        .map(|d| d.name.as_str())
        .collect()
}

/// True when cargo's error says a dependency could not be found on the registry and that
/// dependency is one of ours: a crate whose sibling is not on crates.io yet.
pub(crate) fn failed_on_unpublished_sibling(stderr: &str, names: &[&str]) -> bool {
    let unpublished = stderr.lines().any(|line| {
        (line.contains("no matching package named")
            || line.contains("failed to select a version for the requirement"))
            && names
                .iter()
                .any(|n| line.contains(&format!("`{n}`")) || line.contains(&format!("`{n} =")))
    });
    // Any other error (a compile error, a missing file) must fail the check, not fall back.
    let other_error = stderr
        .lines()
        .any(|line| line.starts_with("error[") || line.contains("error: could not compile"));
    unpublished && !other_error
}

/// True when this cargo is too old for `cargo publish --workspace` (stable since 1.90).
pub(crate) fn workspace_publish_unsupported(stderr: &str) -> bool {
    stderr.contains("unexpected argument '--workspace'")
        || (stderr.contains("--workspace") && stderr.contains("unstable"))
}

pub(crate) fn run(ws: &Workspace) -> Result<Outcome, String> {
    let packages = ws.packages()?;
    let publishable: Vec<&Package> = packages.iter().filter(|p| p.publishable).collect();
    if publishable.is_empty() {
        return Ok(Outcome::Skipped(
            "no publishable package in the workspace".into(),
        ));
    }
    println!("metadata of {} publishable package(s):", publishable.len());
    let mut bad = 0;
    for package in &publishable {
        let problems = metadata_problems(package, &packages, &|p| p.exists());
        if problems.is_empty() {
            println!("  ok    {} {}", package.name, package.version);
        } else {
            bad += 1;
            println!("  FAIL  {} {}", package.name, package.version);
            for problem in problems {
                println!("          - {problem}");
            }
        }
    }
    if bad > 0 {
        return Err(format!(
            "{bad} package(s) have incomplete metadata (listed above)"
        ));
    }

    println!("\neach publishable crate with no default features, then each feature alone:");
    crate::features::check_each(ws, &publishable)?;

    println!(
        "\npackaging (cargo publish --workspace --dry-run: dependency order, each crate verified):"
    );
    let names: Vec<&str> = publishable.iter().map(|p| p.name.as_str()).collect();
    if std::env::var_os("XTASK_PUBLISH_PER_CRATE").is_some() {
        println!("XTASK_PUBLISH_PER_CRATE is set: packaging crate by crate.");
    } else {
        let mut command = ws.cargo();
        command.args(["publish", "--workspace", "--dry-run", "--allow-dirty"]);
        let (ok, stderr) = workspace::run_teeing_stderr(&mut command)?;
        if ok {
            return Ok(Outcome::Passed);
        }
        if workspace_publish_unsupported(&stderr) {
            println!(
                "\nNOTE: this cargo cannot `publish --workspace` (Cargo 1.90+ can); packaging crate by crate."
            );
        } else if failed_on_unpublished_sibling(&stderr, &names) {
            println!(
                "\nNOTE: the workspace dry run failed only because a tidewater crate depends on a sibling that is\n\
                 not on crates.io yet. Falling back to packaging crate by crate."
            );
        } else {
            return Err("cargo publish --workspace --dry-run failed (see above)".into());
        }
    }
    println!(
        "Each crate is packaged and verified; a crate that needs an unpublished sibling is packaged in\n\
         the same cargo call as that sibling, and only if that fails, packaged without the verify build."
    );
    let mut failed = Vec::new();
    for package in &publishable {
        let siblings = sibling_closure(package, &publishable);
        let mut command = ws.cargo();
        command.args(["package", "--allow-dirty", "-p", &package.name]);
        if siblings.is_empty() {
            println!("\n{}: package + verify", package.name);
            if workspace::run(&mut command).is_err() {
                failed.push(package.name.as_str());
            }
            continue;
        }
        // Packaging the siblings in the same call lets cargo resolve them from its local
        // overlay of freshly packaged crates, so even the dependent is verified.
        println!(
            "\n{}: package + verify together with unpublished {}",
            package.name,
            siblings.join(", ")
        );
        for sibling in &siblings {
            command.args(["-p", sibling]);
        }
        if workspace::run(&mut command).is_ok() {
            continue;
        }
        println!(
            "{}: retrying as package only: --no-verify --exclude-lockfile (NOT verified)",
            package.name
        );
        let mut command = ws.cargo();
        command.args([
            "package",
            "--allow-dirty",
            "--no-verify",
            "--exclude-lockfile",
            "-p",
            &package.name,
        ]);
        if workspace::run(&mut command).is_err() {
            failed.push(package.name.as_str());
        }
    }
    if failed.is_empty() {
        Ok(Outcome::Passed)
    } else {
        Err(format!("cargo package failed for {}", failed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Dependency;
    use std::path::PathBuf;

    fn complete(name: &str) -> Package {
        Package {
            name: name.into(),
            version: "0.1.0".into(),
            manifest_path: PathBuf::from(format!("/ws/crates/{name}/Cargo.toml")),
            publishable: true,
            description: Some("does a thing".into()),
            license: Some("MIT OR Apache-2.0".into()),
            repository: Some("https://example.invalid/ws".into()),
            readme: Some("README.md".into()),
            rust_version: Some("1.88".into()),
            keywords: vec!["rate-limit".into(), "async".into()],
            categories: vec!["concurrency".into()],
            ..Package::default()
        }
    }

    fn dep(name: &str, kind: DepKind, req: &str) -> Dependency {
        Dependency {
            name: name.into(),
            kind,
            path: Some(PathBuf::from(format!("/ws/crates/{name}"))),
            req: req.into(),
        }
    }

    #[test]
    fn complete_metadata_passes() {
        assert_eq!(
            metadata_problems(&complete("a"), &[], &|_| true),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_missing_field_is_named() {
        let empty = Package {
            name: "a".into(),
            manifest_path: "/ws/crates/a/Cargo.toml".into(),
            ..Package::default()
        };
        let problems = metadata_problems(&empty, &[], &|_| false).join("\n");
        for needle in [
            "description",
            "license",
            "repository",
            "readme",
            "CHANGELOG",
            "keywords",
            "categories",
            "rust-version",
        ] {
            assert!(
                problems.contains(needle),
                "missing {needle} in:\n{problems}"
            );
        }
    }

    #[test]
    fn files_are_looked_up_next_to_the_manifest() {
        let package = complete("a");
        let only_readme = |p: &Path| p == Path::new("/ws/crates/a/README.md");
        assert_eq!(
            metadata_problems(&package, &[], &only_readme),
            ["no CHANGELOG.md next to Cargo.toml"]
        );
        let only_changelog = |p: &Path| p == Path::new("/ws/crates/a/CHANGELOG.md");
        assert!(metadata_problems(&package, &[], &only_changelog)[0].contains("does not exist"));
    }

    #[test]
    fn keywords_follow_crates_io_rules() {
        let mut package = complete("a");
        package.keywords = (0..6).map(|i| format!("k{i}")).collect();
        assert!(metadata_problems(&package, &[], &|_| true)[0].contains("at most 5"));
        package.keywords = vec![
            "9lives".into(),
            "has space".into(),
            "x".repeat(21),
            "ok_one".into(),
        ];
        assert_eq!(metadata_problems(&package, &[], &|_| true).len(), 3);
    }

    #[test]
    fn sibling_dependencies_need_a_version_but_dev_dependencies_do_not() {
        let mut package = complete("pipeline");
        package.dependencies = vec![
            dep("token-bucket", DepKind::Normal, "*"),
            dep("shutdown", DepKind::Dev, "*"),
        ];
        let siblings = [complete("token-bucket"), complete("shutdown")];
        let problems = metadata_problems(&package, &siblings, &|_| true);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("token-bucket"));
        package.dependencies[0].req = "^0.1.0".into();
        assert!(metadata_problems(&package, &siblings, &|_| true).is_empty());
    }

    #[test]
    fn finds_build_time_sibling_dependencies_only() {
        let bucket = complete("tidewater-token-bucket");
        let shutdown = complete("tidewater-shutdown");
        let mut limiter = complete("tidewater-rate-limiter");
        limiter.dependencies = vec![
            dep("tidewater-token-bucket", DepKind::Normal, "^0.1.0"),
            dep("tidewater-shutdown", DepKind::Dev, "*"),
            Dependency {
                name: "tokio".into(),
                kind: DepKind::Normal,
                path: None,
                req: "^1".into(),
            },
        ];
        let publishable = [&bucket, &shutdown, &limiter];
        assert_eq!(
            sibling_dependencies(&limiter, &publishable),
            ["tidewater-token-bucket"]
        );
        assert!(sibling_dependencies(&bucket, &publishable).is_empty());
        let mut pipeline = complete("tidewater-pipeline");
        pipeline.dependencies = vec![dep("tidewater-rate-limiter", DepKind::Normal, "^0.1.0")];
        let publishable = [&bucket, &shutdown, &limiter, &pipeline];
        assert_eq!(
            sibling_closure(&pipeline, &publishable),
            ["tidewater-rate-limiter", "tidewater-token-bucket"]
        );
        assert!(sibling_closure(&bucket, &publishable).is_empty());
    }

    #[test]
    fn recognises_an_unpublished_sibling_failure() {
        let names = ["tidewater-token-bucket", "tidewater-rate-limiter"];
        let sibling = "error: failed to prepare local package for uploading\n\
            Caused by:\n  no matching package named `tidewater-token-bucket` found\n  location searched: crates.io index\n";
        assert!(failed_on_unpublished_sibling(sibling, &names));
        let third_party = "error: no matching package named `tokio-utilz` found\n";
        assert!(!failed_on_unpublished_sibling(third_party, &names));
        let compile = format!(
            "{sibling}error[E0425]: cannot find value `x`\nerror: could not compile `tidewater-rate-limiter`\n"
        );
        assert!(!failed_on_unpublished_sibling(&compile, &names));
    }

    #[test]
    fn recognises_a_cargo_without_workspace_publish() {
        assert!(workspace_publish_unsupported(
            "error: unexpected argument '--workspace' found\n"
        ));
        assert!(!workspace_publish_unsupported(
            "error: failed to verify package tarball\n"
        ));
    }
}
