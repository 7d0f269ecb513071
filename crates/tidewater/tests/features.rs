//! The facade's `[features]` table: every crate feature enables exactly its optional
//! dependency, `full` lists all of them, and nothing is on by default.
//!
//! That each feature also *builds* alone is checked by a `cargo check` per feature, which
//! belongs in the workspace's task runner (`cargo xtask`), not in a test.

const CRATES: [&str; 8] = [
    "token-bucket",
    "rate-limiter",
    "rate-limiter-redis",
    "worker-pool",
    "fan-out",
    "pipeline",
    "shutdown",
    "event-bus",
];

/// `(name, values)` for every `name = [..]` line of the `[features]` table.
fn features() -> Vec<(String, Vec<String>)> {
    let manifest = include_str!("../Cargo.toml");
    let mut inside = false;
    let mut table = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[features]";
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').expect("`name = [..]` on one line");
        let value = value.trim();
        assert!(
            value.starts_with('[') && value.ends_with(']'),
            "feature {name} must be a one-line list: {value}"
        );
        let values = value[1..value.len() - 1]
            .split(',')
            .map(|v| v.trim().trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        table.push((name.trim().to_owned(), values));
    }
    table
}

fn lookup<'a>(table: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    let found: Vec<_> = table.iter().filter(|(n, _)| n == name).collect();
    assert_eq!(
        found.len(),
        1,
        "feature {name} must be declared exactly once"
    );
    &found[0].1
}

#[test]
fn each_crate_feature_enables_only_its_dependency() {
    let table = features();
    for krate in CRATES {
        assert_eq!(
            lookup(&table, krate),
            [format!("dep:tidewater-{krate}")],
            "feature {krate}"
        );
    }
}

#[test]
fn full_enables_every_crate_feature() {
    let table = features();
    let mut full = lookup(&table, "full").to_vec();
    full.sort();
    let mut expected: Vec<String> = CRATES.iter().map(|c| (*c).to_owned()).collect();
    expected.sort();
    assert_eq!(full, expected);
}

#[test]
fn nothing_is_on_by_default() {
    assert!(lookup(&features(), "default").is_empty());
}

#[test]
fn no_other_features() {
    let table = features();
    let mut names: Vec<&str> = table.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = CRATES.to_vec();
    expected.extend(["default", "full"]);
    expected.sort_unstable();
    assert_eq!(names, expected);
}

#[test]
fn each_dependency_is_optional_with_path_and_version() {
    let manifest = include_str!("../Cargo.toml");
    for krate in CRATES {
        let line = manifest
            .lines()
            .find(|l| l.starts_with(&format!("tidewater-{krate} =")))
            .unwrap_or_else(|| panic!("no dependency line for tidewater-{krate}"));
        assert!(line.contains(&format!("path = \"../{krate}\"")), "{line}");
        assert!(line.contains("version = \"0.1.0\""), "{line}");
        assert!(line.contains("optional = true"), "{line}");
    }
}
