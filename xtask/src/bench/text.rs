//! The dashboard's machine-readable and Markdown outputs: `bench.json` for
//! github-action-benchmark (`customSmallerIsBetter`) and `summary.md`.

use std::fmt::Write as _;

use super::report::{Report, Verdict, format_time, ratio_words};
use crate::json;

/// `[{"name", "unit", "value", "range", "extra"}]`: smaller is better, value = median time
/// per operation in ns, range = half the 95% confidence interval.
pub(crate) fn bench_json(report: &Report) -> String {
    let cases: Vec<_> = report.all_cases().collect();
    let mut out = String::from("[\n");
    for (i, (case, ratio)) in cases.iter().enumerate() {
        let half_width = (case.per_op.upper - case.per_op.lower) / 2.0;
        let mut extra = format!(
            "95% CI {} .. {}",
            format_time(case.per_op.lower),
            format_time(case.per_op.upper)
        );
        if let Some(ratio) = ratio {
            let _ = write!(extra, "; tidewater/this = {ratio:.2}");
        }
        let comma = if i + 1 < cases.len() { "," } else { "" };
        let _ = writeln!(
            out,
            "  {{\"name\": {}, \"unit\": {}, \"value\": {}, \"range\": {}, \"extra\": {}}}{comma}",
            json::quote(&case.id),
            json::quote(case.unit()),
            json::number(case.per_op.point),
            json::quote(&format!("± {half_width:.3}")),
            json::quote(&extra)
        );
    }
    out.push_str("]\n");
    out
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The table of all cases in Markdown, headed by the machine and date.
pub(crate) fn summary_markdown(report: &Report) -> String {
    let mut out = String::from("### tidewater benchmarks\n\n");
    let _ = writeln!(
        out,
        "{} · {} · {}{}. Time per operation, lower is better; ratio = tidewater time ÷ peer time (below 1: tidewater is faster).\n",
        report.machine,
        report.date,
        report.toolchain,
        if report.quick {
            " · quick run (`--quick`: indicative)"
        } else {
            ""
        }
    );
    let baseline = report.baseline.as_ref();
    out.push_str("| benchmark | implementation | time/op (median) | 95% CI | tidewater ÷ this |");
    if let Some(b) = baseline {
        let _ = write!(out, " vs `{}` |", md_cell(&b.name));
    }
    out.push_str("\n|---|---|--:|--:|--:|");
    if baseline.is_some() {
        out.push_str("--:|");
    }
    out.push('\n');
    for (case, ratio) in report.all_cases() {
        let bench = [case.area.as_str(), case.scenario.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        let implementation = if case.is_tidewater() {
            format!("**{}**", md_cell(&case.implementation))
        } else {
            md_cell(&case.implementation)
        };
        let vs = ratio.map_or_else(String::new, |r| format!("{r:.2} ({})", ratio_words(r)));
        let _ = write!(
            out,
            "| {} | {} | {} | {} – {} | {} |",
            md_cell(&bench),
            implementation,
            format_time(case.per_op.point),
            format_time(case.per_op.lower),
            format_time(case.per_op.upper),
            vs
        );
        if baseline.is_some() {
            let cell = match report.change(case) {
                None => "new".to_string(),
                Some(change) => {
                    let mark = match change.verdict {
                        Verdict::Regression => " ⚠ regression",
                        Verdict::Improvement => " ✓ faster",
                        Verdict::Noise => "",
                    };
                    format!("{:+.1}%{mark}", change.relative * 100.0)
                }
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::tests::fixture_report;
    use crate::json::Json;

    #[test]
    fn bench_json_is_custom_smaller_is_better() {
        let report = fixture_report();
        let doc = Json::parse(&bench_json(&report)).unwrap();
        let items = doc.as_array().unwrap();
        assert_eq!(items.len(), report.all_cases().count());
        for item in items {
            for key in ["name", "unit", "range"] {
                assert!(
                    item.get(key).and_then(Json::as_str).is_some(),
                    "{key} in {item:?}"
                );
            }
            assert!(
                item.get("value")
                    .and_then(Json::as_f64)
                    .is_some_and(|v| v > 0.0)
            );
        }
        let drain = items
            .iter()
            .find(|i| i.get("name").and_then(Json::as_str) == Some("event_bus/drain_16/tidewater"))
            .unwrap();
        assert_eq!(
            drain.get("value").and_then(Json::as_f64),
            Some(380.0 / 16.0)
        );
        assert_eq!(drain.get("unit").and_then(Json::as_str), Some("ns/op"));
    }

    #[test]
    fn markdown_table_has_every_case_ratio_and_change() {
        let report = fixture_report();
        let md = summary_markdown(&report);
        let rows = md
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| benchmark"))
            .count();
        assert_eq!(rows, report.all_cases().count());
        assert!(
            md.contains(
                "| token_bucket/allowed | **tidewater** | 12.1 ns | 11.8 ns – 12.4 ns |  | +0.8% |"
            ),
            "{md}"
        );
        assert!(md.contains("| token_bucket/allowed | governor | 20.4 ns |"));
        assert!(md.contains("0.59 (1.7× faster)"));
        assert!(md.contains("⚠ regression"));
        assert!(md.contains("| gcra | try_acquire | 9.40 ns |"));
        assert!(md.contains("Fixture CPU"));
    }
}
