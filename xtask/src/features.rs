//! Every feature of every publishable crate builds on its own.
//!
//! Feature unification hides a feature that forgot to enable a dependency it needs: the
//! workspace build turns everything on at once. So, for each publishable package, this runs
//! `cargo check -p NAME --no-default-features` and then once more per declared feature. For
//! the facade this is the "each feature builds alone" guarantee.

use std::fs;

use crate::workspace::{self, Package, Workspace};

/// The feature names declared in a manifest's `[features]` table, `default` excluded.
pub(crate) fn declared_features(manifest: &str) -> Vec<String> {
    let mut in_features = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_features = line == "[features]";
            continue;
        }
        if !in_features || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            let name = name.trim().trim_matches('"');
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if is_name && name != "default" {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// Checks every publishable package alone and with each feature alone.
pub(crate) fn check_each(ws: &Workspace, packages: &[&Package]) -> Result<(), String> {
    let mut failures = Vec::new();
    for package in packages {
        let manifest = fs::read_to_string(&package.manifest_path)
            .map_err(|e| format!("cannot read {}: {e}", package.manifest_path.display()))?;
        let mut variants = vec![None];
        variants.extend(declared_features(&manifest).into_iter().map(Some));
        for feature in variants {
            let mut command = ws.cargo();
            command.args([
                "check",
                "--quiet",
                "-p",
                &package.name,
                "--no-default-features",
            ]);
            if let Some(feature) = &feature {
                command.args(["--features", feature]);
            }
            let label = format!(
                "{} [{}]",
                package.name,
                feature.as_deref().unwrap_or("no features")
            );
            match workspace::run(&mut command) {
                Ok(()) => println!("  ok    {label}"),
                Err(e) => {
                    println!("  FAIL  {label}: {e}");
                    failures.push(label);
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "these feature sets do not build on their own: {}",
            failures.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_feature_names_but_not_default_or_other_tables() {
        let manifest = r#"
[package]
name = "x"

[features]
default = ["quanta"]
# a comment
quanta = ["dep:quanta"]
"token-bucket" = ["dep:tidewater-token-bucket"]
full = ["quanta", "token-bucket"]

[dependencies]
quanta = { version = "0.12", optional = true }
"#;
        assert_eq!(
            declared_features(manifest),
            ["quanta", "token-bucket", "full"]
        );
    }

    #[test]
    fn a_manifest_without_features_has_none() {
        assert!(
            declared_features("[package]\nname = \"x\"\n[dependencies]\na = \"1\"\n").is_empty()
        );
    }
}
