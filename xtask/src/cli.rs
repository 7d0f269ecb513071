//! Command-line parsing for `cargo xtask` (no parser crate: the grammar is small).

use std::fmt;

/// One check that `test-all` runs; each also runs alone as `cargo xtask <name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Fmt,
    Clippy,
    Test,
    Doc,
    Loom,
    BenchSmoke,
    /// Render check of the dashboard; `fixtures` builds it from xtask's fixture results first.
    DashboardCheck {
        fixtures: bool,
    },
    PublishCheck,
}

impl Step {
    /// The steps of `test-all`, cheapest first.
    pub(crate) const ALL: [Step; 8] = [
        Step::Fmt,
        Step::Clippy,
        Step::Test,
        Step::Doc,
        Step::Loom,
        Step::BenchSmoke,
        Step::DashboardCheck { fixtures: true },
        Step::PublishCheck,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::Test => "test",
            Step::Doc => "doc",
            Step::Loom => "loom",
            Step::BenchSmoke => "bench-smoke",
            Step::DashboardCheck { .. } => "dashboard-check",
            Step::PublishCheck => "publish-check",
        }
    }
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BenchOptions {
    pub(crate) quick: bool,
    pub(crate) filter: Option<String>,
    pub(crate) save: Option<String>,
    pub(crate) compare: Option<String>,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Step(Step),
    TestAll {
        keep_going: bool,
    },
    Bench(BenchOptions),
    /// `loom --list` (the crates with models, as a JSON array for a CI matrix) or
    /// `loom --package NAME` (one crate's models).
    Loom {
        list: bool,
        package: Option<String>,
    },
    /// Build the dashboard from results already on disk (or from the fixtures), without running.
    Dashboard {
        compare: Option<String>,
        fixtures: bool,
    },
    Help,
}

/// Why the command line was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UsageError {
    NoCommand,
    UnknownCommand(String),
    UnknownOption { command: String, option: String },
    MissingValue(String),
    BadBaselineName(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::NoCommand => write!(f, "no command given"),
            UsageError::UnknownCommand(c) => write!(f, "unknown command `{c}`"),
            UsageError::UnknownOption { command, option } => {
                write!(f, "`{command}` does not take `{option}`")
            }
            UsageError::MissingValue(option) => write!(f, "`{option}` needs a value"),
            UsageError::BadBaselineName(name) => {
                write!(
                    f,
                    "baseline name `{name}` must be non-empty and use only letters, digits, `-`, `_` or `.` (not first)"
                )
            }
        }
    }
}

pub(crate) const USAGE: &str = "\
usage: cargo xtask <command> [options]

checks (each runs alone; test-all runs them in this order):
  fmt              cargo fmt --check on every crate
  clippy           clippy on the workspace, all targets and features, warnings denied
  test             every test (cargo-nextest if installed, then doc tests)
  doc              rustdoc with warnings denied
  loom             every loom model found under crates/ (LOOM_MAX_PREEMPTIONS, default 2)
                   [--package NAME: one crate] [--list: crates with models, as JSON]
  bench-smoke      every benchmark once, in test mode
  dashboard-check  open target/dashboard/index.html in headless Chromium [--fixtures]
  publish-check    manifest metadata of every publishable crate, then packaging
  test-all         all of the above [--keep-going: run every step, then list failures]

benchmarks:
  bench            run the criterion benches, then build target/dashboard/
                   [--quick] [--filter PATTERN] [--save NAME] [--compare NAME]
  dashboard        rebuild target/dashboard/ from results on disk [--compare NAME] [--fixtures]
";

fn value(args: &mut impl Iterator<Item = String>, option: &str) -> Result<String, UsageError> {
    args.next()
        .filter(|v| !v.starts_with("--"))
        .ok_or_else(|| UsageError::MissingValue(option.to_string()))
}

fn baseline_name(name: String) -> Result<String, UsageError> {
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(name)
    } else {
        Err(UsageError::BadBaselineName(name))
    }
}

/// Parses the arguments after `cargo xtask`.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, UsageError> {
    let mut args = args.into_iter();
    let name = args.next().ok_or(UsageError::NoCommand)?;
    let unknown = |option: String| UsageError::UnknownOption {
        command: name.clone(),
        option,
    };
    let simple = match name.as_str() {
        "help" | "--help" | "-h" => Some(Command::Help),
        "fmt" => Some(Command::Step(Step::Fmt)),
        "clippy" => Some(Command::Step(Step::Clippy)),
        "test" => Some(Command::Step(Step::Test)),
        "doc" => Some(Command::Step(Step::Doc)),
        "bench-smoke" => Some(Command::Step(Step::BenchSmoke)),
        "publish-check" => Some(Command::Step(Step::PublishCheck)),
        _ => None,
    };
    if let Some(command) = simple {
        return match args.next() {
            Some(extra) => Err(unknown(extra)),
            None => Ok(command),
        };
    }
    match name.as_str() {
        "test-all" => {
            let mut keep_going = false;
            for arg in args {
                match arg.as_str() {
                    "--keep-going" | "-k" => keep_going = true,
                    _ => return Err(unknown(arg)),
                }
            }
            Ok(Command::TestAll { keep_going })
        }
        "loom" => {
            let (mut list, mut package) = (false, None);
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--list" => list = true,
                    "--package" | "-p" => package = Some(value(&mut args, &arg)?),
                    _ => return Err(unknown(arg)),
                }
            }
            if !list && package.is_none() {
                Ok(Command::Step(Step::Loom))
            } else {
                Ok(Command::Loom { list, package })
            }
        }
        "dashboard-check" => {
            let mut fixtures = false;
            for arg in args {
                match arg.as_str() {
                    "--fixtures" => fixtures = true,
                    _ => return Err(unknown(arg)),
                }
            }
            Ok(Command::Step(Step::DashboardCheck { fixtures }))
        }
        "bench" => {
            let mut options = BenchOptions::default();
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--quick" => options.quick = true,
                    "--filter" => options.filter = Some(value(&mut args, &arg)?),
                    "--save" => options.save = Some(baseline_name(value(&mut args, &arg)?)?),
                    "--compare" => options.compare = Some(baseline_name(value(&mut args, &arg)?)?),
                    _ => return Err(unknown(arg)),
                }
            }
            Ok(Command::Bench(options))
        }
        "dashboard" => {
            let (mut compare, mut fixtures) = (None, false);
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--compare" => compare = Some(baseline_name(value(&mut args, &arg)?)?),
                    "--fixtures" => fixtures = true,
                    _ => return Err(unknown(arg)),
                }
            }
            Ok(Command::Dashboard { compare, fixtures })
        }
        _ => Err(UsageError::UnknownCommand(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command, UsageError> {
        parse(line.split_whitespace().map(str::to_string))
    }

    #[test]
    fn every_step_parses_by_its_own_name() {
        for step in Step::ALL {
            let expected = match step {
                Step::DashboardCheck { .. } => Step::DashboardCheck { fixtures: false },
                other => other,
            };
            assert_eq!(
                parse_str(step.name()),
                Ok(Command::Step(expected)),
                "{}",
                step.name()
            );
        }
        assert_eq!(
            parse_str("dashboard-check --fixtures"),
            Ok(Command::Step(Step::DashboardCheck { fixtures: true }))
        );
    }

    #[test]
    fn test_all_takes_keep_going() {
        assert_eq!(
            parse_str("test-all"),
            Ok(Command::TestAll { keep_going: false })
        );
        assert_eq!(
            parse_str("test-all --keep-going"),
            Ok(Command::TestAll { keep_going: true })
        );
        assert!(matches!(
            parse_str("test-all --fast"),
            Err(UsageError::UnknownOption { .. })
        ));
    }

    #[test]
    fn bench_options() {
        let parsed = parse_str("bench --quick --filter event_bus --save main --compare old-1.2");
        let expected = BenchOptions {
            quick: true,
            filter: Some("event_bus".into()),
            save: Some("main".into()),
            compare: Some("old-1.2".into()),
        };
        assert_eq!(parsed, Ok(Command::Bench(expected)));
        assert_eq!(
            parse_str("bench"),
            Ok(Command::Bench(BenchOptions::default()))
        );
        assert_eq!(
            parse_str("bench --filter"),
            Err(UsageError::MissingValue("--filter".into()))
        );
        assert_eq!(
            parse_str("bench --save --quick"),
            Err(UsageError::MissingValue("--save".into()))
        );
        assert!(matches!(
            parse_str("bench --save ../x"),
            Err(UsageError::BadBaselineName(_))
        ));
        assert!(matches!(
            parse_str("bench --compare .hidden"),
            Err(UsageError::BadBaselineName(_))
        ));
    }

    #[test]
    fn loom_options() {
        assert_eq!(parse_str("loom"), Ok(Command::Step(Step::Loom)));
        assert_eq!(
            parse_str("loom --list"),
            Ok(Command::Loom {
                list: true,
                package: None
            })
        );
        assert_eq!(
            parse_str("loom -p tidewater-shutdown"),
            Ok(Command::Loom {
                list: false,
                package: Some("tidewater-shutdown".into())
            })
        );
        assert_eq!(
            parse_str("loom --package"),
            Err(UsageError::MissingValue("--package".into()))
        );
    }

    #[test]
    fn dashboard_and_help() {
        assert_eq!(
            parse_str("dashboard --fixtures"),
            Ok(Command::Dashboard {
                compare: None,
                fixtures: true
            })
        );
        assert_eq!(
            parse_str("dashboard --compare base"),
            Ok(Command::Dashboard {
                compare: Some("base".into()),
                fixtures: false
            })
        );
        assert_eq!(parse_str("--help"), Ok(Command::Help));
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(parse_str(""), Err(UsageError::NoCommand));
        assert_eq!(
            parse_str("lint"),
            Err(UsageError::UnknownCommand("lint".into()))
        );
        assert_eq!(
            parse_str("fmt --fix"),
            Err(UsageError::UnknownOption {
                command: "fmt".into(),
                option: "--fix".into()
            })
        );
        assert!(
            UsageError::BadBaselineName("x/y".into())
                .to_string()
                .contains("x/y")
        );
    }
}
