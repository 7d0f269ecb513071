//! The dashboard page: one self-contained HTML file (inline CSS, inline SVG charts drawn
//! here; no script, font or image from the network).

use std::fmt::Write as _;

use super::report::{Area, Report, Scenario, Verdict, format_time, ratio_words};
use super::results::Case;

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An id usable in `href="#..."`.
fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A CSS class for how a ratio reads: good (we are faster), even, bad.
fn ratio_class(ratio: f64) -> &'static str {
    if ratio < 0.97 {
        "good"
    } else if ratio <= 1.03 {
        "even"
    } else {
        "bad"
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(max_chars - 1).collect();
        short.push('…');
        short
    }
}

const STYLE: &str = r#"
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --ours:#0e7490; --ours-soft:#ecfeff; --peer:#94a3b8;
        --good:#166534; --good-bg:#dcfce7; --bad:#991b1b; --bad-bg:#fee2e2; --even:#334155; --even-bg:#f1f5f9; }
* { box-sizing: border-box; }
body { margin:0; background:#f6f7f9; color:var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.hero { background: linear-gradient(135deg, #083344 0%, #0e7490 60%, #0891b2 100%); color:#f0fdfa; padding: 36px 0 28px; }
.wrap { max-width: 1160px; margin: 0 auto; padding: 0 24px; }
h1 { margin:0 0 6px; font-size: 30px; letter-spacing: -0.01em; }
h1 span { font-weight: 400; opacity: .8; }
.lead { margin: 0 0 18px; max-width: 760px; color:#cffafe; }
dl.meta { display:flex; flex-wrap:wrap; gap: 10px 28px; margin:0; }
dl.meta div { min-width: 140px; }
dl.meta dt { font-size: 11px; text-transform: uppercase; letter-spacing: .08em; color:#a5f3fc; }
dl.meta dd { margin:0; font-weight: 600; }
main { padding: 24px 0 40px; }
.cards { align-items: start; display:grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 14px; margin-bottom: 22px; }
.card { display:block; background:#fff; border:1px solid var(--line); border-radius: 12px; padding: 14px 16px; color:inherit; text-decoration:none;
        box-shadow: 0 1px 2px rgba(15,23,42,.05); }
.card:hover { border-color: var(--ours); }
.card h3 { margin:0 0 8px; font-size: 16px; }
.card ul { list-style:none; margin:0; padding:0; }
.card li { margin: 6px 0; font-size: 14px; display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 6px; }
.card li small { flex-basis: 100%; }
.card small { color: var(--muted); }
.pill { display:inline-block; padding: 1px 8px; border-radius: 999px; font-weight:600; font-size: 13px; white-space: nowrap; }
.pill.good { background:var(--good-bg); color:var(--good); }
.pill.bad { background:var(--bad-bg); color:var(--bad); }
.pill.even { background:var(--even-bg); color:var(--even); }
section.panel { background:#fff; border:1px solid var(--line); border-radius: 14px; padding: 18px 20px 12px; margin-bottom: 22px;
                box-shadow: 0 1px 2px rgba(15,23,42,.05); }
section.panel h2 { margin: 0 0 2px; font-size: 20px; }
.sub { margin: 0 0 10px; color: var(--muted); font-size: 14px; }
figure { margin: 0; }
svg.chart { width: 100%; height: auto; display:block; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; font-size: 13px; fill: var(--ink); }
svg .scenario { font-weight: 700; font-size: 13.5px; }
svg .impl { fill: #334155; }
svg .impl.ours { fill: var(--ours); font-weight: 700; }
svg .value { fill: #1e293b; font-variant-numeric: tabular-nums; }
svg .bar.ours { fill: var(--ours); }
svg .bar.peer { fill: var(--peer); }
svg .ci { stroke: #0f172a; stroke-width: 1.3; opacity: .55; }
svg .grid { stroke: var(--line); }
svg .pillbg.good { fill: var(--good-bg); } svg .pilltext.good { fill: var(--good); }
svg .pillbg.bad { fill: var(--bad-bg); } svg .pilltext.bad { fill: var(--bad); }
svg .pillbg.even { fill: var(--even-bg); } svg .pilltext.even { fill: var(--even); }
svg .pilltext { font-weight: 700; font-size: 12.5px; }
svg .regress { fill: var(--bad); font-weight: 700; }
svg .improve { fill: var(--good); font-weight: 700; }
.legend { display:flex; gap: 18px; color: var(--muted); font-size: 13px; margin: 4px 0 6px; flex-wrap: wrap; }
.legend i { display:inline-block; width: 12px; height: 12px; border-radius: 3px; vertical-align: -1px; margin-right: 6px; }
.alert { border-radius: 12px; padding: 12px 16px; margin-bottom: 22px; font-size: 14px; }
.alert.bad { background: var(--bad-bg); color: var(--bad); border: 1px solid #fecaca; }
.alert.good { background: var(--good-bg); color: var(--good); border: 1px solid #bbf7d0; }
.alert.note { background: #fffbeb; color: #92400e; border: 1px solid #fde68a; }
.alert ul { margin: 6px 0 0; padding-left: 20px; }
table { width:100%; border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left; }
td.num { text-align: right; white-space: nowrap; }
th.num { text-align: right; }
.table-wrap { overflow-x: auto; }
thead th { position: sticky; top: 0; background: #f8fafc; font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
tbody th { background: #f8fafc; font-size: 14px; padding-top: 12px; }
tr.ours td { background: var(--ours-soft); }
tr.ours td.impl { color: var(--ours); font-weight: 700; }
td .ci { color: var(--muted); }
.delta.regression { color: var(--bad); font-weight: 700; }
.delta.improvement { color: var(--good); font-weight: 700; }
.delta.noise { color: var(--muted); }
footer { color: var(--muted); font-size: 13px; padding: 0 0 40px; }
code { background: #f1f5f9; border-radius: 5px; padding: 1px 5px; font-size: 13px; }
"#;

/// Chart geometry, in SVG user units (the SVG scales to the page width).
const WIDTH: f64 = 1000.0;
const LABEL_W: f64 = 200.0;
const BAR_MAX: f64 = 460.0;
const PILL_X: f64 = 790.0;
const ROW_H: f64 = 28.0;
const HEAD_H: f64 = 26.0;
const GAP: f64 = 14.0;

fn scenario_height(scenario: &Scenario) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let rows = scenario.cases.len() as f64;
    HEAD_H + rows * ROW_H + GAP
}

/// The bar chart of one area: per scenario, one bar per implementation (time per op, with a
/// 95% CI whisker), scaled to the slowest in that scenario, and the ratio written on each peer.
pub(crate) fn area_chart(area: &Area, report: &Report) -> String {
    let height: f64 = area.scenarios.iter().map(scenario_height).sum::<f64>() + 4.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" data-check="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}: time per operation, tidewater beside each peer" xmlns="http://www.w3.org/2000/svg">"#,
        escape(&area.name)
    );
    let mut y = 0.0;
    for scenario in &area.scenarios {
        let title = if scenario.name.is_empty() {
            area.name.as_str()
        } else {
            scenario.name.as_str()
        };
        let _ = write!(
            svg,
            r#"<text class="scenario" x="0" y="{:.1}">{}</text>"#,
            y + 17.0,
            escape(title)
        );
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LABEL_W}" x2="{LABEL_W}" y1="{:.1}" y2="{:.1}"/>"#,
            y + HEAD_H - 2.0,
            y + scenario_height(scenario) - GAP + 2.0
        );
        y += HEAD_H;
        let scale_max = scenario
            .cases
            .iter()
            .map(|c| c.per_op.upper.max(c.per_op.point))
            .fold(f64::MIN_POSITIVE, f64::max);
        let x_of = |ns: f64| LABEL_W + (ns / scale_max * BAR_MAX).clamp(0.0, BAR_MAX);
        for case in &scenario.cases {
            let ours = case.is_tidewater();
            let class = if ours { "ours" } else { "peer" };
            let mid = y + ROW_H / 2.0;
            let bar_end = x_of(case.per_op.point).max(LABEL_W + 2.0);
            let _ = write!(
                svg,
                r#"<text class="impl{}" x="{:.1}" y="{:.1}" text-anchor="end">{}<title>{}</title></text>"#,
                if ours { " ours" } else { "" },
                LABEL_W - 10.0,
                mid + 4.5,
                escape(&truncate(&case.implementation, 26)),
                escape(&case.id)
            );
            let _ = write!(
                svg,
                r#"<rect class="bar {class}" x="{LABEL_W}" y="{:.1}" width="{:.1}" height="18" rx="3"><title>{}: {} (95% CI {} – {})</title></rect>"#,
                mid - 9.0,
                bar_end - LABEL_W,
                escape(&case.id),
                format_time(case.per_op.point),
                format_time(case.per_op.lower),
                format_time(case.per_op.upper)
            );
            let (lo, hi) = (x_of(case.per_op.lower), x_of(case.per_op.upper));
            let _ = write!(
                svg,
                r#"<path class="ci" d="M{lo:.1} {:.1}V{:.1}M{lo:.1} {mid:.1}H{hi:.1}M{hi:.1} {:.1}V{:.1}"/>"#,
                mid - 4.0,
                mid + 4.0,
                mid - 4.0,
                mid + 4.0
            );
            let moved = match report.change(case) {
                Some(change) if change.verdict == Verdict::Regression => {
                    format!(
                        r#"<tspan class="regress" dx="8">▲ {:+.0}%</tspan>"#,
                        change.relative * 100.0
                    )
                }
                Some(change) if change.verdict == Verdict::Improvement => {
                    format!(
                        r#"<tspan class="improve" dx="8">▼ {:+.0}%</tspan>"#,
                        change.relative * 100.0
                    )
                }
                _ => String::new(),
            };
            let _ = write!(
                svg,
                r#"<text class="value" x="{:.1}" y="{:.1}">{}{moved}</text>"#,
                bar_end.max(hi) + 8.0,
                mid + 4.5,
                format_time(case.per_op.point)
            );
            if let Some(ratio) = scenario.ratio(case) {
                let rc = ratio_class(ratio);
                let label = if rc == "even" {
                    format!("{ratio:.2} · about the same")
                } else {
                    format!("{ratio:.2} · tidewater {}", ratio_words(ratio))
                };
                let _ = write!(
                    svg,
                    r#"<rect class="pillbg {rc}" x="{PILL_X}" y="{:.1}" width="{:.1}" height="20" rx="10"/><text class="pilltext {rc}" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    mid - 10.0,
                    WIDTH - PILL_X,
                    f64::midpoint(PILL_X, WIDTH),
                    mid + 4.5,
                    escape(&label)
                );
            }
            y += ROW_H;
        }
        y += GAP;
    }
    svg.push_str("</svg>");
    svg
}

fn overview(report: &Report, out: &mut String) {
    out.push_str(r#"<div class="cards">"#);
    for area in &report.areas {
        let _ = write!(
            out,
            r##"<a class="card" href="#area-{}"><h3>{}</h3><ul>"##,
            anchor(&area.name),
            escape(&area.name)
        );
        for (peer, ratio, n) in area.peer_summary() {
            let scenarios = if n == 1 {
                "1 scenario".to_string()
            } else {
                format!("geometric mean of {n} scenarios")
            };
            let _ = write!(
                out,
                r#"<li><span class="pill {}">{}</span> vs {} <small>({scenarios})</small></li>"#,
                ratio_class(ratio),
                escape(&ratio_words(ratio)),
                escape(&peer)
            );
        }
        out.push_str("</ul></a>");
    }
    out.push_str("</div>");
}

fn comparison_alert(report: &Report, out: &mut String) {
    let Some(baseline) = &report.baseline else {
        return;
    };
    let regressions = report.regressions();
    let compared = report
        .all_cases()
        .filter(|(c, _)| report.change(c).is_some())
        .count();
    if regressions.is_empty() {
        let _ = write!(
            out,
            r#"<div class="alert good">Compared with baseline <b>{}</b> ({}): no regression beyond the noise in {compared} matching cases.</div>"#,
            escape(&baseline.name),
            escape(&baseline.date)
        );
    } else {
        let _ = write!(
            out,
            r#"<div class="alert bad"><b>{} regression(s)</b> beyond the noise against baseline <b>{}</b> ({}, {}):<ul>"#,
            regressions.len(),
            escape(&baseline.name),
            escape(&baseline.date),
            escape(&baseline.machine)
        );
        for case in regressions {
            if let Some(change) = report.change(case) {
                let _ = write!(
                    out,
                    "<li><code>{}</code>: {} → {} ({:+.1}%)</li>",
                    escape(&case.id),
                    format_time(change.old.point),
                    format_time(case.per_op.point),
                    change.relative * 100.0
                );
            }
        }
        out.push_str("</ul></div>");
    }
}

fn throughput(case: &Case) -> String {
    let per_sec = 1e9 / case.per_op.point;
    let unit = if case.elements.is_some() {
        "ops/s"
    } else {
        "iter/s"
    };
    if per_sec >= 1e9 {
        format!("{:.2} G{unit}", per_sec / 1e9)
    } else if per_sec >= 1e6 {
        format!("{:.1} M{unit}", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k{unit}", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} {unit}")
    }
}

/// `23.0 – 24.5 ns` (the unit once when both ends share it).
fn interval(case: &Case) -> String {
    let (lower, upper) = (
        format_time(case.per_op.lower),
        format_time(case.per_op.upper),
    );
    match (lower.rsplit_once(' '), upper.rsplit_once(' ')) {
        (Some((lo, lo_unit)), Some((hi, hi_unit))) if lo_unit == hi_unit => {
            format!("{lo} – {hi} {hi_unit}")
        }
        _ => format!("{lower} – {upper}"),
    }
}

fn table_row(report: &Report, case: &Case, scenario: &str, ratio: Option<f64>, out: &mut String) {
    let _ = write!(
        out,
        r#"<tr{}><td>{}</td><td class="impl">{}</td><td class="num">{}</td><td class="num"><span class="ci">{}</span></td><td class="num">{}</td><td class="num">{}</td>"#,
        if case.is_tidewater() {
            r#" class="ours""#
        } else {
            ""
        },
        escape(scenario),
        escape(&case.implementation),
        format_time(case.per_op.point),
        interval(case),
        throughput(case),
        ratio.map_or_else(String::new, |r| format!(
            r#"<span class="pill {}">{r:.2}</span>"#,
            ratio_class(r)
        ))
    );
    if report.baseline.is_some() {
        let cell = match report.change(case) {
            None => r#"<span class="delta noise">new</span>"#.to_string(),
            Some(change) => {
                let (class, mark) = match change.verdict {
                    Verdict::Regression => ("regression", " ▲ slower"),
                    Verdict::Improvement => ("improvement", " ▼ faster"),
                    Verdict::Noise => ("noise", ""),
                };
                format!(
                    r#"<span class="delta {class}">{:+.1}%{mark}</span>"#,
                    change.relative * 100.0
                )
            }
        };
        let _ = write!(out, r#"<td class="num">{cell}</td>"#);
    }
    out.push_str("</tr>");
}

fn table(report: &Report, out: &mut String) {
    let columns = if report.baseline.is_some() { 7 } else { 6 };
    out.push_str(r#"<table id="cases" data-check="table"><thead><tr><th>scenario</th><th>implementation</th><th class="num">time / op (median)</th><th class="num">95% CI</th><th class="num">throughput</th><th class="num">tidewater ÷ this</th>"#);
    if let Some(b) = &report.baseline {
        let _ = write!(out, r#"<th class="num">vs {}</th>"#, escape(&b.name));
    }
    out.push_str("</tr></thead>");
    for area in &report.areas {
        let _ = write!(
            out,
            r#"<tbody><tr><th colspan="{columns}">{}</th></tr>"#,
            escape(&area.name)
        );
        for scenario in &area.scenarios {
            for case in &scenario.cases {
                table_row(report, case, &scenario.name, scenario.ratio(case), out);
            }
        }
        out.push_str("</tbody>");
    }
    if !report.solo.is_empty() {
        let _ = write!(
            out,
            r#"<tbody><tr><th colspan="{columns}">own hot paths (no peer in the same group)</th></tr>"#
        );
        for case in &report.solo {
            let group = case
                .id
                .rsplit_once('/')
                .map_or(case.id.as_str(), |(head, _)| head);
            table_row(report, case, group, None, out);
        }
        out.push_str("</tbody>");
    }
    out.push_str("</table>");
}

/// The whole page.
pub(crate) fn page(report: &Report) -> String {
    let case_count = report.all_cases().count();
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>tidewater benchmarks</title><meta name="tidewater-areas" content="{}"><meta name="tidewater-cases" content="{case_count}"><style>{STYLE}</style></head><body>"#,
        report.areas.len()
    );
    out.push_str(r#"<header class="hero"><div class="wrap"><h1>tidewater <span>benchmarks</span></h1><p class="lead">Each tidewater crate beside the crate people reach for today: the same workload, on the same machine, in the same run. Bars show time per operation — shorter is better. The ratio is tidewater's time divided by the peer's: below 1 means tidewater is faster.</p><dl class="meta">"#);
    let mut meta = vec![
        ("Machine", report.machine.clone()),
        ("Measured", report.date.clone()),
        ("Toolchain", report.toolchain.clone()),
        (
            "Run",
            if report.quick {
                "quick (--quick): indicative".to_string()
            } else {
                "full criterion run".to_string()
            },
        ),
    ];
    if let Some(b) = &report.baseline {
        meta.push(("Compared with", format!("{} ({})", b.name, b.date)));
    }
    for (term, value) in meta {
        let _ = write!(out, "<div><dt>{term}</dt><dd>{}</dd></div>", escape(&value));
    }
    out.push_str(r#"</dl></div></header><main><div class="wrap">"#);
    comparison_alert(report, &mut out);
    if !report.notes.is_empty() {
        out.push_str(r#"<div class="alert note"><b>Notes on this run:</b><ul>"#);
        for note in &report.notes {
            let _ = write!(out, "<li>{}</li>", escape(note));
        }
        out.push_str("</ul></div>");
    }
    if report.areas.is_empty() {
        out.push_str(r#"<div class="alert note">No comparison yet: no benchmark group has both a <code>tidewater</code> implementation and a peer.</div>"#);
    } else {
        overview(report, &mut out);
    }
    for area in &report.areas {
        let peers: std::collections::BTreeSet<&str> = area
            .scenarios
            .iter()
            .flat_map(|s| &s.cases)
            .filter(|c| !c.is_tidewater())
            .map(|c| c.implementation.as_str())
            .collect();
        let _ = write!(
            out,
            r#"<section class="panel area" id="area-{}"><h2>{}</h2><p class="sub">{} scenario(s) · tidewater vs {}</p><div class="legend"><span><i style="background:var(--ours)"></i>tidewater</span><span><i style="background:var(--peer)"></i>peer</span><span>whisker: 95% confidence interval</span><span>each scenario scaled to its slowest bar</span></div><figure>{}</figure></section>"#,
            anchor(&area.name),
            escape(&area.name),
            area.scenarios.len(),
            escape(&peers.into_iter().collect::<Vec<_>>().join(", ")),
            area_chart(area, report)
        );
    }
    out.push_str(r#"<section class="panel"><h2>All cases</h2><p class="sub">Median time per operation (per element when the benchmark sets a throughput) with its 95% confidence interval, from criterion.</p>"#);
    out.push_str(r#"<div class="table-wrap">"#);
    table(report, &mut out);
    out.push_str("</div></section>");
    out.push_str(
        r#"<footer>Reproduce with <code>cargo xtask bench --quick</code> (or without <code>--quick</code> for a full run); compare with a saved run through <code>--save NAME</code> and <code>--compare NAME</code>. Absolute times depend on the machine; ratios measured in the same run are what to compare. Regressions are marked when the change exceeds 5% and the confidence intervals do not overlap.</footer>"#,
    );
    out.push_str("</div></main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::tests::fixture_report;

    #[test]
    fn page_has_a_chart_per_area_and_every_case_in_the_table() {
        let report = fixture_report();
        let html = page(&report);
        assert_eq!(html.matches("<svg").count(), report.areas.len());
        assert_eq!(html.matches(r#"data-check="chart""#).count(), 3);
        assert_eq!(html.matches(r#"<table id="cases""#).count(), 1);
        let body_rows =
            html.matches("<tr><td>").count() + html.matches(r#"<tr class="ours"><td>"#).count();
        assert_eq!(body_rows, report.all_cases().count());
        assert!(html.contains(r#"<meta name="tidewater-areas" content="3">"#));
        assert!(html.contains("Fixture CPU @ 2.0GHz, 2 cores"));
        assert!(
            html.contains("0.59 · tidewater 1.7× faster"),
            "ratio written on the governor bar"
        );
        assert!(html.contains("1 regression(s)"));
        assert!(html.contains("▲ slower") && html.contains("▼ faster"));
        assert!(html.contains("own hot paths"));
    }

    #[test]
    fn page_is_self_contained() {
        let html = page(&fixture_report());
        for banned in ["<script", "http://", "https://", "@import", "<link", "url("] {
            let allowed_ns = html.matches("http://www.w3.org/2000/svg").count();
            let hits = html.matches(banned).count();
            let hits = if banned == "http://" {
                hits - allowed_ns
            } else {
                hits
            };
            assert_eq!(hits, 0, "{banned} in the page");
        }
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let mut report = fixture_report();
        report.areas[0].name = "<evil>".into();
        let html = page(&report);
        assert!(!html.contains("<evil>"));
        assert!(html.contains("&lt;evil&gt;"));
        assert_eq!(anchor("a/b c"), "a-b-c");
    }

    #[test]
    fn bars_scale_to_the_slowest_case_of_their_scenario() {
        let report = fixture_report();
        let svg = area_chart(&report.areas[0], &report);
        let widths: Vec<f64> = svg
            .split(r#"<rect class="bar "#)
            .skip(1)
            .filter_map(|s| s.split("width=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(widths.len(), 3);
        assert!(widths.iter().all(|w| *w > 0.0 && *w <= BAR_MAX));
        assert!(
            widths[0] < widths[1] && widths[1] < widths[2],
            "tidewater fastest, async_broadcast slowest: {widths:?}"
        );
    }

    #[test]
    fn empty_report_still_renders_a_table() {
        let report = Report::new(&[], "m".into(), "d".into(), "t".into());
        let html = page(&report);
        assert!(html.contains("No comparison yet"));
        assert!(html.contains(r#"<table id="cases""#));
    }
}
