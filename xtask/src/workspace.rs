//! Where the workspace is, how to call cargo, and what `cargo metadata` says about its packages.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;

use crate::json::Json;

/// The workspace xtask works on, and the cargo that launched it.
pub(crate) struct Workspace {
    pub(crate) root: PathBuf,
    cargo: OsString,
    pub(crate) target_dir: PathBuf,
}

impl Workspace {
    /// The workspace root is the parent of xtask's own manifest directory; cargo is `$CARGO`
    /// (set by `cargo run`), so the same toolchain that built xtask runs the steps.
    pub(crate) fn from_env() -> Workspace {
        let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        let root = manifest_dir
            .parent()
            .map_or_else(|| manifest_dir.clone(), Path::to_path_buf);
        let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let target_dir = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        Workspace {
            root,
            cargo,
            target_dir,
        }
    }

    /// A `cargo` command run from the workspace root.
    pub(crate) fn cargo(&self) -> Command {
        let mut command = Command::new(&self.cargo);
        command.current_dir(&self.root);
        command
    }

    /// The packages of the workspace, from `cargo metadata --no-deps`.
    pub(crate) fn packages(&self) -> Result<Vec<Package>, String> {
        let output = self
            .cargo()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("could not run cargo metadata: {e}"))?;
        if !output.status.success() {
            return Err(format!("cargo metadata failed ({})", output.status));
        }
        let text = String::from_utf8(output.stdout)
            .map_err(|_| "cargo metadata printed invalid UTF-8".to_string())?;
        parse_packages(&text)
    }
}

/// Runs `command`, echoing it first (with the environment it sets), and says how it ended.
pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    println!("$ {}", describe(command));
    let status: ExitStatus = command.status().map_err(|e| {
        format!(
            "could not start `{}`: {e}",
            command.get_program().to_string_lossy()
        )
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(command)))
    }
}

/// Runs a command, streaming its stderr to ours and keeping a copy.
pub(crate) fn run_teeing_stderr(command: &mut Command) -> Result<(bool, String), String> {
    println!("$ {}", describe(command));
    let mut child = command
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    let stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let reader = thread::spawn(move || {
        let mut copy = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            copy.push_str(&line);
            copy.push('\n');
        }
        copy
    });
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo: {e}"))?;
    let copy = reader.join().unwrap_or_default();
    Ok((status.success(), copy))
}

/// The command line as a user could paste it.
pub(crate) fn describe(command: &Command) -> String {
    let mut line = String::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            let _ = write!(
                line,
                "{}={} ",
                key.to_string_lossy(),
                shell_word(&value.to_string_lossy())
            );
        }
    }
    let program = command.get_program().to_string_lossy();
    let program = Path::new(program.as_ref())
        .file_name()
        .map_or_else(|| program.to_string(), |n| n.to_string_lossy().into_owned());
    line.push_str(&program);
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&shell_word(&arg.to_string_lossy()));
    }
    line
}

fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What a dependency is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DepKind {
    Normal,
    Dev,
    Build,
}

/// One dependency of a package, as cargo metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dependency {
    pub(crate) name: String,
    pub(crate) kind: DepKind,
    /// Set for `path = ...` dependencies (siblings in this workspace).
    pub(crate) path: Option<PathBuf>,
    /// The version requirement; `*` when the manifest gives none.
    pub(crate) req: String,
}

/// The parts of a package's manifest that xtask checks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) manifest_path: PathBuf,
    pub(crate) publishable: bool,
    pub(crate) description: Option<String>,
    pub(crate) license: Option<String>,
    pub(crate) license_file: Option<String>,
    pub(crate) repository: Option<String>,
    pub(crate) readme: Option<String>,
    pub(crate) rust_version: Option<String>,
    pub(crate) keywords: Vec<String>,
    pub(crate) categories: Vec<String>,
    pub(crate) dependencies: Vec<Dependency>,
    /// Names of the package's bench targets.
    pub(crate) bench_targets: Vec<String>,
}

impl Package {
    /// The directory holding the package's Cargo.toml.
    pub(crate) fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }
}

fn opt_string(value: Option<&Json>) -> Option<String> {
    value.and_then(Json::as_str).map(str::to_string)
}

fn strings(value: Option<&Json>) -> Vec<String> {
    value
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Reads the `packages` of a `cargo metadata --format-version 1` document.
pub(crate) fn parse_packages(text: &str) -> Result<Vec<Package>, String> {
    let doc = Json::parse(text).map_err(|e| format!("cargo metadata output: {e}"))?;
    let packages = doc
        .get("packages")
        .and_then(Json::as_array)
        .ok_or("cargo metadata output has no `packages` array")?;
    packages
        .iter()
        .map(|p| {
            let name =
                opt_string(p.get("name")).ok_or("a package without a name in cargo metadata")?;
            let manifest_path = opt_string(p.get("manifest_path"))
                .ok_or_else(|| format!("package {name} has no manifest_path"))?;
            // `publish`: null means "any registry"; a list names the allowed ones; [] is `publish = false`.
            let publishable = match p.get("publish") {
                None | Some(Json::Null) => true,
                Some(Json::Array(registries)) => !registries.is_empty(),
                Some(_) => false,
            };
            let dependencies = p
                .get("dependencies")
                .and_then(Json::as_array)
                .unwrap_or(&[])
                .iter()
                .filter_map(|d| {
                    let kind = match d.get("kind").and_then(Json::as_str) {
                        Some("dev") => DepKind::Dev,
                        Some("build") => DepKind::Build,
                        _ => DepKind::Normal,
                    };
                    Some(Dependency {
                        name: opt_string(d.get("name"))?,
                        kind,
                        path: opt_string(d.get("path")).map(PathBuf::from),
                        req: opt_string(d.get("req")).unwrap_or_else(|| "*".into()),
                    })
                })
                .collect();
            let bench_targets = p
                .get("targets")
                .and_then(Json::as_array)
                .unwrap_or(&[])
                .iter()
                .filter(|t| strings(t.get("kind")).iter().any(|k| k == "bench"))
                .filter_map(|t| opt_string(t.get("name")))
                .collect();
            Ok(Package {
                version: opt_string(p.get("version")).unwrap_or_default(),
                manifest_path: PathBuf::from(manifest_path),
                publishable,
                description: opt_string(p.get("description")),
                license: opt_string(p.get("license")),
                license_file: opt_string(p.get("license_file")),
                repository: opt_string(p.get("repository")),
                readme: opt_string(p.get("readme")),
                rust_version: opt_string(p.get("rust_version")),
                keywords: strings(p.get("keywords")),
                categories: strings(p.get("categories")),
                dependencies,
                bench_targets,
                name,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = r#"{"packages":[
      {"name":"tidewater-rate-limiter","version":"0.1.0","manifest_path":"/ws/crates/rate-limiter/Cargo.toml",
       "publish":null,"description":"limits","license":"MIT OR Apache-2.0","license_file":null,
       "repository":"https://example.invalid/r","readme":"README.md","rust_version":"1.88",
       "keywords":["rate-limit"],"categories":["concurrency"],
       "dependencies":[{"name":"tidewater-token-bucket","kind":null,"path":"/ws/crates/token-bucket","req":"^0.1.0"},
                       {"name":"proptest","kind":"dev","req":"^1.7"}],
       "targets":[{"name":"tidewater_rate_limiter","kind":["lib"]},{"name":"rate_limiter","kind":["bench"]}]},
      {"name":"xtask","version":"0.0.0","manifest_path":"/ws/xtask/Cargo.toml","publish":[],
       "dependencies":[],"targets":[{"name":"xtask","kind":["bin"]}]}
    ],"workspace_root":"/ws"}"#;

    #[test]
    fn reads_packages_from_cargo_metadata() {
        let packages = parse_packages(METADATA).unwrap();
        assert_eq!(packages.len(), 2);
        let limiter = &packages[0];
        assert!(limiter.publishable);
        assert_eq!(limiter.dir(), Path::new("/ws/crates/rate-limiter"));
        assert_eq!(limiter.rust_version.as_deref(), Some("1.88"));
        assert_eq!(limiter.bench_targets, ["rate_limiter"]);
        assert_eq!(limiter.dependencies[0].kind, DepKind::Normal);
        assert_eq!(
            limiter.dependencies[0].path.as_deref(),
            Some(Path::new("/ws/crates/token-bucket"))
        );
        assert_eq!(limiter.dependencies[1].kind, DepKind::Dev);
        assert!(
            !packages[1].publishable,
            "publish = false shows as an empty list"
        );
        assert_eq!(packages[1].description, None);
    }

    #[test]
    fn reports_broken_metadata_instead_of_panicking() {
        assert!(parse_packages("{}").is_err());
        assert!(parse_packages("not json").is_err());
        assert!(parse_packages(r#"{"packages":[{"version":"1"}]}"#).is_err());
    }

    #[test]
    fn describes_commands_with_their_environment() {
        let mut command = Command::new("/usr/bin/cargo");
        command
            .env("RUSTFLAGS", "--cfg tidewater_loom")
            .args(["test", "-p", "x", "--", "it's"]);
        assert_eq!(
            describe(&command),
            r"RUSTFLAGS='--cfg tidewater_loom' cargo test -p x -- 'it'\''s'"
        );
    }
}
