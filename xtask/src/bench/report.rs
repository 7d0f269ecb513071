//! Organises results for the dashboard: comparisons per area (tidewater beside its peers,
//! with ratios), the cases without a peer, and the change against a saved baseline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::results::{Case, Estimate};
use crate::json::{self, Json};

/// One scenario of an area: the same workload through tidewater and each peer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scenario {
    pub(crate) name: String,
    /// Tidewater implementations first, then peers from fastest to slowest.
    pub(crate) cases: Vec<Case>,
}

impl Scenario {
    /// The tidewater case ratios are taken against: `tidewater` itself if present, else the
    /// alphabetically first implementation starting with `tidewater` (never "the fastest of
    /// ours", which would flatter us; name the primary variant `tidewater`).
    pub(crate) fn ours(&self) -> Option<&Case> {
        self.cases
            .iter()
            .find(|c| c.implementation == "tidewater")
            .or_else(|| {
                self.cases
                    .iter()
                    .filter(|c| c.is_tidewater())
                    .min_by(|a, b| a.implementation.cmp(&b.implementation))
            })
    }

    /// tidewater time / peer time (below 1: tidewater is faster). `None` for our own cases.
    pub(crate) fn ratio(&self, case: &Case) -> Option<f64> {
        if case.is_tidewater() {
            return None;
        }
        self.ours()
            .map(|ours| ours.per_op.point / case.per_op.point)
    }
}

/// The comparisons of one area (`token_bucket`, `event_bus`, ...).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Area {
    pub(crate) name: String,
    pub(crate) scenarios: Vec<Scenario>,
}

impl Area {
    /// Geometric mean of the ratios against each peer over the scenarios it appears in.
    pub(crate) fn peer_summary(&self) -> Vec<(String, f64, usize)> {
        let mut logs: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for scenario in &self.scenarios {
            for case in &scenario.cases {
                if let Some(ratio) = scenario.ratio(case) {
                    let entry = logs.entry(case.implementation.as_str()).or_default();
                    entry.0 += ratio.ln();
                    entry.1 += 1;
                }
            }
        }
        #[allow(clippy::cast_precision_loss)]
        logs.into_iter()
            .map(|(peer, (sum, n))| (peer.to_string(), (sum / n as f64).exp(), n))
            .collect()
    }
}

/// How a case moved against the saved baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// Slower, beyond both the noise threshold and the confidence intervals.
    Regression,
    Improvement,
    /// Within the noise: the intervals overlap or the change is below the threshold.
    Noise,
}

/// The change of one case against the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Change {
    pub(crate) old: Estimate,
    /// (new - old) / old, e.g. 0.12 for 12% slower.
    pub(crate) relative: f64,
    pub(crate) verdict: Verdict,
}

/// Changes smaller than this are noise even when the intervals do not overlap.
pub(crate) const NOISE_THRESHOLD: f64 = 0.05;

pub(crate) fn change(new: Estimate, old: Estimate) -> Change {
    let relative = (new.point - old.point) / old.point;
    let verdict = if relative > NOISE_THRESHOLD && new.lower > old.upper {
        Verdict::Regression
    } else if relative < -NOISE_THRESHOLD && new.upper < old.lower {
        Verdict::Improvement
    } else {
        Verdict::Noise
    };
    Change {
        old,
        relative,
        verdict,
    }
}

/// A saved run (`target/bench-baselines/NAME.json`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Baseline {
    pub(crate) name: String,
    pub(crate) date: String,
    pub(crate) machine: String,
    pub(crate) cases: Vec<(String, Estimate)>,
}

const BASELINE_FORMAT: &str = "tidewater-bench-baseline/1";

impl Baseline {
    pub(crate) fn to_json(cases: &[Case], date: &str, machine: &str, quick: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{{\"format\":{},\"date\":{},\"machine\":{},\"quick\":{quick},\"cases\":[",
            json::quote(BASELINE_FORMAT),
            json::quote(date),
            json::quote(machine)
        );
        for (i, case) in cases.iter().enumerate() {
            let comma = if i + 1 < cases.len() { "," } else { "" };
            let _ = writeln!(
                out,
                " {{\"id\":{},\"unit\":{},\"value\":{},\"lower\":{},\"upper\":{}}}{comma}",
                json::quote(&case.id),
                json::quote(case.unit()),
                json::number(case.per_op.point),
                json::number(case.per_op.lower),
                json::number(case.per_op.upper)
            );
        }
        out.push_str("]}\n");
        out
    }

    pub(crate) fn parse(name: &str, text: &str) -> Result<Baseline, String> {
        let doc = Json::parse(text).map_err(|e| format!("baseline `{name}`: {e}"))?;
        if doc.get("format").and_then(Json::as_str) != Some(BASELINE_FORMAT) {
            return Err(format!("baseline `{name}` is not a {BASELINE_FORMAT} file"));
        }
        let field = |key: &str| {
            doc.get(key)
                .and_then(Json::as_str)
                .unwrap_or("unknown")
                .to_string()
        };
        let cases = doc
            .get("cases")
            .and_then(Json::as_array)
            .ok_or_else(|| format!("baseline `{name}` has no cases"))?
            .iter()
            .filter_map(|c| {
                let number = |key: &str| c.get(key).and_then(Json::as_f64);
                let estimate = Estimate {
                    point: number("value")?,
                    lower: number("lower")?,
                    upper: number("upper")?,
                };
                Some((c.get("id")?.as_str()?.to_string(), estimate))
            })
            .collect();
        Ok(Baseline {
            name: name.to_string(),
            date: field("date"),
            machine: field("machine"),
            cases,
        })
    }

    pub(crate) fn get(&self, id: &str) -> Option<Estimate> {
        self.cases
            .iter()
            .find(|(case, _)| case == id)
            .map(|(_, e)| *e)
    }
}

/// Everything the dashboard shows.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) areas: Vec<Area>,
    /// Cases with no tidewater-vs-peer pairing (a crate's own hot paths), by id.
    pub(crate) solo: Vec<Case>,
    pub(crate) machine: String,
    pub(crate) date: String,
    pub(crate) toolchain: String,
    pub(crate) quick: bool,
    pub(crate) baseline: Option<Baseline>,
    /// Notes shown on the page (partial results, ...).
    pub(crate) notes: Vec<String>,
}

impl Report {
    pub(crate) fn new(cases: &[Case], machine: String, date: String, toolchain: String) -> Report {
        let mut groups: BTreeMap<(&str, &str), Vec<Case>> = BTreeMap::new();
        for case in cases {
            groups
                .entry((case.area.as_str(), case.scenario.as_str()))
                .or_default()
                .push(case.clone());
        }
        let mut areas: Vec<Area> = Vec::new();
        let mut solo = Vec::new();
        for ((area, scenario), mut cases) in groups {
            let ours = cases.iter().any(Case::is_tidewater);
            let peers = cases.iter().any(|c| !c.is_tidewater());
            if !(ours && peers) {
                solo.extend(cases);
                continue;
            }
            cases.sort_by(|a, b| {
                b.is_tidewater()
                    .cmp(&a.is_tidewater())
                    .then(a.per_op.point.total_cmp(&b.per_op.point))
            });
            let scenario = Scenario {
                name: scenario.to_string(),
                cases,
            };
            match areas.last_mut() {
                Some(last) if last.name == area => last.scenarios.push(scenario),
                _ => areas.push(Area {
                    name: area.to_string(),
                    scenarios: vec![scenario],
                }),
            }
        }
        Report {
            areas,
            solo,
            machine,
            date,
            toolchain,
            quick: false,
            baseline: None,
            notes: Vec::new(),
        }
    }

    pub(crate) fn change(&self, case: &Case) -> Option<Change> {
        let old = self.baseline.as_ref()?.get(&case.id)?;
        Some(change(case.per_op, old))
    }

    /// Every case: compared ones by area and scenario, then the solo ones.
    pub(crate) fn all_cases(&self) -> impl Iterator<Item = (&Case, Option<f64>)> {
        self.areas
            .iter()
            .flat_map(|a| a.scenarios.iter())
            .flat_map(|s| s.cases.iter().map(move |c| (c, s.ratio(c))))
            .chain(self.solo.iter().map(|c| (c, None)))
    }

    pub(crate) fn regressions(&self) -> Vec<&Case> {
        self.all_cases()
            .map(|(c, _)| c)
            .filter(|c| {
                self.change(c)
                    .is_some_and(|ch| ch.verdict == Verdict::Regression)
            })
            .collect()
    }
}

/// A time in nanoseconds with three significant digits and a readable unit.
pub(crate) fn format_time(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// `1.6× faster` / `1.3× slower` / `same speed` for a ratio tidewater/peer.
pub(crate) fn ratio_words(ratio: f64) -> String {
    if (0.97..=1.03).contains(&ratio) {
        "about the same".to_string()
    } else if ratio < 1.0 {
        format!("{:.1}× faster", 1.0 / ratio)
    } else {
        format!("{ratio:.1}× slower")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bench::results;

    pub(crate) fn fixture_report() -> Report {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let results = results::read(&dir.join("criterion"), None).unwrap();
        let mut report = Report::new(
            &results.cases,
            "Fixture CPU @ 2.0GHz, 2 cores".into(),
            "2026-11-23 12:00 UTC".into(),
            "rustc 1.95.0".into(),
        );
        let text = std::fs::read_to_string(dir.join("baseline.json")).unwrap();
        report.baseline = Some(Baseline::parse("fixture", &text).unwrap());
        report
    }

    #[test]
    fn groups_comparisons_by_area_and_keeps_solo_cases_apart() {
        let report = fixture_report();
        let names: Vec<&str> = report.areas.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["event_bus", "token_bucket", "worker_pool"]);
        assert_eq!(report.solo.len(), 1);
        assert_eq!(report.solo[0].id, "gcra/try_acquire");
        let drain = &report.areas[0].scenarios[0];
        let order: Vec<&str> = drain
            .cases
            .iter()
            .map(|c| c.implementation.as_str())
            .collect();
        assert_eq!(
            order,
            ["tidewater", "tokio_broadcast", "async_broadcast"],
            "ours first, then peers fastest first"
        );
    }

    #[test]
    fn ratio_is_tidewater_time_over_peer_time() {
        let report = fixture_report();
        let allowed = &report.areas[1].scenarios[0];
        assert_eq!(allowed.name, "allowed");
        let governor = &allowed.cases[1];
        let ratio = allowed.ratio(governor).unwrap();
        assert!((ratio - 12.1 / 20.4).abs() < 1e-12);
        assert_eq!(allowed.ratio(&allowed.cases[0]), None);
        let summary = report.areas[1].peer_summary();
        assert_eq!(summary.len(), 1);
        assert_eq!((summary[0].0.as_str(), summary[0].2), ("governor", 3));
        assert!(summary[0].1 < 1.0);
    }

    #[test]
    fn without_a_plain_tidewater_the_first_variant_by_name_is_ours() {
        let case = |implementation: &str, ns: f64| Case {
            id: format!("p/cpu/{implementation}"),
            area: "p".into(),
            scenario: "cpu".into(),
            implementation: implementation.into(),
            elements: Some(1),
            per_op: Estimate {
                point: ns,
                lower: ns,
                upper: ns,
            },
            samples: None,
        };
        let report = Report::new(
            &[
                case("tidewater_c2", 5.0),
                case("tidewater_c1", 12.0),
                case("chain", 10.0),
            ],
            String::new(),
            String::new(),
            String::new(),
        );
        let scenario = &report.areas[0].scenarios[0];
        assert_eq!(scenario.ours().unwrap().implementation, "tidewater_c1");
        assert!((scenario.ratio(&scenario.cases[2]).unwrap() - 1.2).abs() < 1e-12);
    }

    #[test]
    fn regressions_need_both_threshold_and_separated_intervals() {
        let old = Estimate {
            point: 100.0,
            lower: 98.0,
            upper: 102.0,
        };
        assert_eq!(
            change(
                Estimate {
                    point: 110.0,
                    lower: 108.0,
                    upper: 112.0
                },
                old
            )
            .verdict,
            Verdict::Regression
        );
        assert_eq!(
            change(
                Estimate {
                    point: 90.0,
                    lower: 88.0,
                    upper: 92.0
                },
                old
            )
            .verdict,
            Verdict::Improvement
        );
        assert_eq!(
            change(
                Estimate {
                    point: 104.0,
                    lower: 103.0,
                    upper: 105.0
                },
                old
            )
            .verdict,
            Verdict::Noise,
            "below threshold"
        );
        assert_eq!(
            change(
                Estimate {
                    point: 110.0,
                    lower: 95.0,
                    upper: 125.0
                },
                old
            )
            .verdict,
            Verdict::Noise,
            "overlapping"
        );
        let report = fixture_report();
        let regressed: Vec<&str> = report.regressions().iter().map(|c| c.id.as_str()).collect();
        assert_eq!(regressed, ["event_bus/drain_16/tidewater"]);
        let denied = report
            .all_cases()
            .find(|(c, _)| c.id == "token_bucket/denied/tidewater")
            .unwrap()
            .0;
        assert_eq!(report.change(denied).unwrap().verdict, Verdict::Improvement);
    }

    #[test]
    fn baselines_round_trip() {
        let report = fixture_report();
        let cases: Vec<Case> = report.all_cases().map(|(c, _)| c.clone()).collect();
        let text = Baseline::to_json(&cases, "2026-11-23 12:00 UTC", "cpu \"x\"", true);
        let back = Baseline::parse("again", &text).unwrap();
        assert_eq!(back.cases.len(), cases.len());
        assert_eq!(back.machine, "cpu \"x\"");
        assert_eq!(back.get(&cases[0].id), Some(cases[0].per_op));
        assert!(Baseline::parse("x", "{}").unwrap_err().contains("not a"));
        assert!(Baseline::parse("x", "[").is_err());
    }

    #[test]
    fn formats_times_and_ratios() {
        assert_eq!(format_time(12.345), "12.3 ns");
        assert_eq!(format_time(1.5), "1.50 ns");
        assert_eq!(format_time(412_000.0), "412 µs");
        assert_eq!(format_time(2_900_000.0), "2.90 ms");
        assert_eq!(format_time(3.2e9), "3.20 s");
        assert_eq!(ratio_words(0.5), "2.0× faster");
        assert_eq!(ratio_words(1.5), "1.5× slower");
        assert_eq!(ratio_words(1.01), "about the same");
    }
}
