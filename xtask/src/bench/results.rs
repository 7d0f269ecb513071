//! Reads criterion's result files: `<criterion dir>/**/new/benchmark.json` (the id and
//! throughput) and the `estimates.json` beside it (times in ns per iteration, with 95% CIs).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::json::Json;

/// A point estimate with its confidence interval, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    pub(crate) point: f64,
    pub(crate) lower: f64,
    pub(crate) upper: f64,
}

impl Estimate {
    pub(crate) fn scaled(self, divisor: f64) -> Estimate {
        Estimate {
            point: self.point / divisor,
            lower: self.lower / divisor,
            upper: self.upper / divisor,
        }
    }
}

/// One benchmark result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Case {
    /// criterion's full id, `<area>/<scenario>/<implementation>`.
    pub(crate) id: String,
    pub(crate) area: String,
    pub(crate) scenario: String,
    pub(crate) implementation: String,
    /// Elements per iteration (criterion's `Throughput::Elements`), if set.
    pub(crate) elements: Option<u64>,
    /// Median time per operation (per element when `elements` is set, else per iteration).
    pub(crate) per_op: Estimate,
    /// How many samples criterion took (from `sample.json`; quick mode takes 2).
    pub(crate) samples: Option<usize>,
}

impl Case {
    /// The unit of `per_op`.
    pub(crate) fn unit(&self) -> &'static str {
        if self.elements.is_some() {
            "ns/op"
        } else {
            "ns/iter"
        }
    }

    /// Ours: the implementation is named `tidewater` or starts with it.
    pub(crate) fn is_tidewater(&self) -> bool {
        self.implementation.starts_with("tidewater")
    }
}

/// Results read from a criterion directory, plus the result folders that could not be used.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub(crate) cases: Vec<Case>,
    /// One line per unusable result folder, saying why.
    pub(crate) problems: Vec<String>,
}

/// Why no dashboard can be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    NoDirectory(PathBuf),
    NoResults { dir: PathBuf, problems: Vec<String> },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NoDirectory(dir) => write!(
                f,
                "no criterion results: {} does not exist. Run `cargo xtask bench` (or `cargo xtask bench --quick`) first.",
                dir.display()
            ),
            ReadError::NoResults { dir, problems } => {
                write!(f, "no usable benchmark results in {}", dir.display())?;
                if problems.is_empty() {
                    write!(
                        f,
                        " (no `new/benchmark.json` found: did the benches run? is `harness = false` set?)"
                    )
                } else {
                    write!(f, ":")?;
                    for problem in problems {
                        write!(f, "\n  - {problem}")?;
                    }
                    Ok(())
                }
            }
        }
    }
}

fn estimate(estimates: &Json, which: &str) -> Option<Estimate> {
    let e = estimates.get(which)?;
    let ci = e.get("confidence_interval")?;
    Some(Estimate {
        point: e.get("point_estimate")?.as_f64()?,
        lower: ci.get("lower_bound")?.as_f64()?,
        upper: ci.get("upper_bound")?.as_f64()?,
    })
}

/// Builds a case from the text of `benchmark.json` and `estimates.json`.
pub(crate) fn parse_case(benchmark: &str, estimates: &str) -> Result<Case, String> {
    let benchmark = Json::parse(benchmark).map_err(|e| format!("benchmark.json: {e}"))?;
    let estimates = Json::parse(estimates).map_err(|e| format!("estimates.json: {e}"))?;
    let text = |key: &str| {
        benchmark
            .get(key)
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    let group = text("group_id").ok_or("benchmark.json has no group_id")?;
    let function = text("function_id");
    let value = text("value_str");
    let id = text("full_id").unwrap_or_else(|| {
        [Some(group.clone()), function.clone(), value.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/")
    });
    let (area, mut scenario) = match group.split_once('/') {
        Some((area, rest)) => (area.to_string(), rest.to_string()),
        None => (group.clone(), String::new()),
    };
    let implementation = match (function, value) {
        (Some(function), Some(value)) => {
            scenario = if scenario.is_empty() {
                value
            } else {
                format!("{scenario}/{value}")
            };
            function
        }
        (Some(function), None) => function,
        (None, Some(value)) => value,
        (None, None) => String::new(),
    };
    let elements = benchmark
        .at(&["throughput", "Elements"])
        .and_then(Json::as_f64)
        .filter(|n| *n >= 1.0);
    let median = estimate(&estimates, "median")
        .ok_or("estimates.json has no median with a confidence interval")?;
    if !(median.point.is_finite() && median.point > 0.0) {
        return Err(format!(
            "median time {} is not a positive number",
            median.point
        ));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked >= 1 above
    let elements = elements.map(|n| n as u64);
    #[allow(clippy::cast_precision_loss)]
    let per_op = median.scaled(elements.map_or(1.0, |n| n as f64));
    Ok(Case {
        id,
        area,
        scenario,
        implementation,
        elements,
        per_op,
        samples: None,
    })
}

/// The number of samples in a criterion `sample.json` (`{"iters": [...], "times": [...]}`).
pub(crate) fn sample_count(sample_json: &str) -> Option<usize> {
    Json::parse(sample_json)
        .ok()?
        .get("iters")?
        .as_array()
        .map(<[Json]>::len)
}

fn find_new_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            out.push(path);
        } else if path.file_name().is_none_or(|n| n != "report") {
            find_new_dirs(&path, out);
        }
    }
}

/// Reads every result under `dir`. With `since`, results whose `benchmark.json` is older
/// are left out (they belong to an earlier run, e.g. a benchmark that was since renamed).
pub(crate) fn read(dir: &Path, since: Option<SystemTime>) -> Result<Results, ReadError> {
    if !dir.is_dir() {
        return Err(ReadError::NoDirectory(dir.to_path_buf()));
    }
    let mut new_dirs = Vec::new();
    find_new_dirs(dir, &mut new_dirs);
    new_dirs.sort();
    let mut results = Results::default();
    for new in new_dirs {
        let shown = new
            .parent()
            .unwrap_or(&new)
            .strip_prefix(dir)
            .unwrap_or(&new)
            .display()
            .to_string();
        let benchmark_path = new.join("benchmark.json");
        let Ok(benchmark) = fs::read_to_string(&benchmark_path) else {
            results
                .problems
                .push(format!("{shown}: no new/benchmark.json (interrupted run?)"));
            continue;
        };
        if let Some(since) = since {
            let modified = fs::metadata(&benchmark_path)
                .and_then(|m| m.modified())
                .ok();
            if modified.is_some_and(|m| m < since) {
                continue;
            }
        }
        let Ok(estimates) = fs::read_to_string(new.join("estimates.json")) else {
            results
                .problems
                .push(format!("{shown}: no new/estimates.json (interrupted run?)"));
            continue;
        };
        match parse_case(&benchmark, &estimates) {
            Ok(mut case) => {
                case.samples = fs::read_to_string(new.join("sample.json"))
                    .ok()
                    .and_then(|t| sample_count(&t));
                results.cases.push(case);
            }
            Err(why) => results.problems.push(format!("{shown}: {why}")),
        }
    }
    if results.cases.is_empty() {
        return Err(ReadError::NoResults {
            dir: dir.to_path_buf(),
            problems: results.problems,
        });
    }
    results.cases.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("fixtures")
    }

    #[test]
    fn reads_the_fixture_run() {
        let results = read(&fixtures().join("criterion"), None).unwrap();
        assert!(results.problems.is_empty(), "{:?}", results.problems);
        let ids: Vec<&str> = results.cases.iter().map(|c| c.id.as_str()).collect();
        assert!(ids.contains(&"token_bucket/allowed/tidewater"));
        assert!(ids.contains(&"token_bucket/allowed/governor"));
        let allowed = results
            .cases
            .iter()
            .find(|c| c.id == "token_bucket/allowed/tidewater")
            .unwrap();
        assert_eq!(
            (allowed.area.as_str(), allowed.scenario.as_str()),
            ("token_bucket", "allowed")
        );
        assert!(allowed.is_tidewater());
        assert_eq!(allowed.unit(), "ns/op");
        // drain_16 moves 16 elements per iteration: time per op is the median / 16.
        let drain = results
            .cases
            .iter()
            .find(|c| c.id == "event_bus/drain_16/tokio_broadcast")
            .unwrap();
        assert_eq!(drain.elements, Some(16));
        assert!((drain.per_op.point - 1040.0 / 16.0).abs() < 1e-9);
    }

    #[test]
    fn parameterised_ids_keep_the_parameter_in_the_scenario() {
        let benchmark = r#"{"group_id":"fan_out/concurrency","function_id":"tidewater","value_str":"64",
            "throughput":{"Elements":64},"full_id":"fan_out/concurrency/tidewater/64"}"#;
        let estimates = r#"{"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":60.0,"upper_bound":70.0},
            "point_estimate":64.0,"standard_error":1.0}}"#;
        let case = parse_case(benchmark, estimates).unwrap();
        assert_eq!(
            (case.scenario.as_str(), case.implementation.as_str()),
            ("concurrency/64", "tidewater")
        );
        assert_eq!(
            case.per_op,
            Estimate {
                point: 1.0,
                lower: 60.0 / 64.0,
                upper: 70.0 / 64.0
            }
        );
    }

    #[test]
    fn no_throughput_means_per_iteration() {
        let benchmark =
            r#"{"group_id":"gcra","function_id":"try_acquire","value_str":null,"throughput":null}"#;
        let estimates = r#"{"median":{"confidence_interval":{"lower_bound":9.0,"upper_bound":11.0},"point_estimate":10.0}}"#;
        let case = parse_case(benchmark, estimates).unwrap();
        assert_eq!(case.id, "gcra/try_acquire");
        assert_eq!(
            (
                case.area.as_str(),
                case.scenario.as_str(),
                case.implementation.as_str()
            ),
            ("gcra", "", "try_acquire")
        );
        assert_eq!(case.unit(), "ns/iter");
        assert!(!case.is_tidewater());
    }

    #[test]
    fn counts_samples() {
        assert_eq!(
            sample_count(r#"{"sampling_mode":"Linear","iters":[1.0,2.0],"times":[5.0,9.0]}"#),
            Some(2)
        );
        assert_eq!(sample_count("{}"), None);
        let results = read(&fixtures().join("criterion"), None).unwrap();
        let counted: Vec<Option<usize>> = results.cases.iter().map(|c| c.samples).collect();
        assert!(
            counted.contains(&Some(2)) && counted.contains(&None),
            "{counted:?}"
        );
    }

    #[test]
    fn broken_files_are_explained() {
        let ok_bench = r#"{"group_id":"a/b","function_id":"tidewater"}"#;
        assert!(
            parse_case("{", "{}")
                .unwrap_err()
                .contains("benchmark.json")
        );
        assert!(
            parse_case(ok_bench, "[")
                .unwrap_err()
                .contains("estimates.json")
        );
        assert!(parse_case(ok_bench, "{}").unwrap_err().contains("median"));
        let zero = r#"{"median":{"confidence_interval":{"lower_bound":0,"upper_bound":0},"point_estimate":0}}"#;
        assert!(parse_case(ok_bench, zero).unwrap_err().contains("positive"));
    }

    #[test]
    fn partial_and_missing_runs_give_messages() {
        let partial = read(&fixtures().join("criterion-partial"), None).unwrap();
        assert_eq!(partial.cases.len(), 1);
        assert_eq!(partial.problems.len(), 1);
        assert!(
            partial.problems[0].contains("estimates.json"),
            "{:?}",
            partial.problems
        );

        let missing = read(&fixtures().join("does-not-exist"), None).unwrap_err();
        assert!(missing.to_string().contains("cargo xtask bench"));
        let empty = read(
            &fixtures(),
            Some(SystemTime::now() + std::time::Duration::from_secs(3600)),
        );
        assert!(
            matches!(empty, Err(ReadError::NoResults { .. })),
            "every result is older than `since`"
        );
    }
}
