//! Opens the dashboard in headless Chromium: the page must render with its charts and table,
//! and a screenshot is saved beside it. Without Chromium the check says so loudly and skips.

use std::env;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::steps::Outcome;
use crate::workspace;

const TIMEOUT: Duration = Duration::from_secs(90);

/// `$CHROMIUM`, Debian's `/usr/bin/chromium`, or a Chromium/Chrome on `PATH`.
pub(crate) fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    {
        return Some(path);
    }
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    let path_var = env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| env::split_paths(&path_var).map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}

/// The number in `<meta name="NAME" content="N">` of the page.
pub(crate) fn meta_count(html: &str, name: &str) -> Option<usize> {
    let tag = format!(r#"<meta name="{name}" content=""#);
    let start = html.find(&tag)? + tag.len();
    html[start..].split('"').next()?.parse().ok()
}

/// Checks the DOM Chromium rendered: every area chart, the case table and every case row.
pub(crate) fn check_dom(dom: &str, charts: usize, cases: usize) -> Result<String, String> {
    let svgs = dom.matches("<svg").count();
    let chart_marks = dom.matches(r#"data-check="chart""#).count();
    let tables = dom.matches(r#"id="cases""#).count();
    let rows = dom.matches(r#"<td class="impl">"#).count();
    let mut problems = Vec::new();
    if chart_marks < charts || svgs < charts {
        problems.push(format!(
            "expected {charts} chart(s), the rendered page has {chart_marks} (svg elements: {svgs})"
        ));
    }
    if tables != 1 {
        problems.push(format!("expected the cases table once, found {tables}"));
    }
    if rows != cases {
        problems.push(format!(
            "expected {cases} case row(s) in the table, found {rows}"
        ));
    }
    if !dom.contains("</html>") {
        problems.push("the dumped DOM is truncated (no </html>)".into());
    }
    if problems.is_empty() {
        Ok(format!(
            "{chart_marks} chart(s), the cases table with {rows} row(s)"
        ))
    } else {
        Err(problems.join("; "))
    }
}

/// Runs Chromium with output to files (its helper processes may keep pipes open), killing it
/// after the timeout.
fn run_chromium(chromium: &Path, args: &[String], scratch: &Path) -> Result<String, String> {
    let stdout_path = scratch.join("stdout.txt");
    let stderr_path = scratch.join("stderr.txt");
    let stdout = File::create(&stdout_path)
        .map_err(|e| format!("creating {}: {e}", stdout_path.display()))?;
    let stderr = File::create(&stderr_path)
        .map_err(|e| format!("creating {}: {e}", stderr_path.display()))?;
    let mut command = Command::new(chromium);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    println!("$ {}", workspace::describe(&command));
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", chromium.display()))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "chromium did not finish within {}s",
                    TIMEOUT.as_secs()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for chromium: {e}")),
        }
    };
    let out = fs::read_to_string(&stdout_path).unwrap_or_default();
    if !status.success() {
        let err = fs::read_to_string(&stderr_path).unwrap_or_default();
        let tail: Vec<&str> = err
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(format!("chromium failed ({status}):\n{}", tail.join("\n")));
    }
    Ok(out)
}

/// Renders `<dir>/index.html`, checks it, and saves `<dir>/screenshot.png`.
pub(crate) fn check(dir: &Path) -> Result<Outcome, String> {
    let index = dir.join("index.html");
    let html = fs::read_to_string(&index)
        .map_err(|e| format!("cannot read {}: {e}. Build it first with `cargo xtask bench` (or `cargo xtask dashboard`).", index.display()))?;
    let charts = meta_count(&html, "tidewater-areas")
        .ok_or("index.html has no tidewater-areas meta tag: not a tidewater dashboard?")?;
    let cases =
        meta_count(&html, "tidewater-cases").ok_or("index.html has no tidewater-cases meta tag")?;
    let Some(chromium) = find_chromium() else {
        let why = "headless Chromium not found (install Debian's `chromium` package, or set CHROMIUM=/path/to/chrome); \
                   the page was written but NOT render-checked";
        println!("\n############################################################################");
        println!("# dashboard-check SKIPPED: {why}");
        println!("############################################################################\n");
        return Ok(Outcome::Skipped(why.into()));
    };
    let scratch = env::temp_dir().join(format!(
        "xtask-chromium-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    fs::create_dir_all(&scratch).map_err(|e| format!("creating {}: {e}", scratch.display()))?;
    let absolute = fs::canonicalize(&index).map_err(|e| format!("{}: {e}", index.display()))?;
    let url = format!("file://{}", absolute.display());
    let common = |extra: &[String]| -> Vec<String> {
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        args.push(format!(
            "--user-data-dir={}",
            scratch.join("profile").display()
        ));
        args.extend_from_slice(extra);
        args.push(url.clone());
        args
    };
    let result = (|| {
        let dom = run_chromium(&chromium, &common(&["--dump-dom".into()]), &scratch)?;
        let found = check_dom(&dom, charts, cases)?;
        let screenshot = dir.join("screenshot.png");
        let _ = fs::remove_file(&screenshot);
        run_chromium(
            &chromium,
            &common(&[
                format!("--screenshot={}", screenshot.display()),
                "--window-size=1400,2000".into(),
            ]),
            &scratch,
        )?;
        let bytes = fs::read(&screenshot).map_err(|e| format!("no screenshot written ({e})"))?;
        if !bytes.starts_with(b"\x89PNG") || bytes.len() < 10_000 {
            return Err(format!(
                "the screenshot {} looks empty ({} bytes)",
                screenshot.display(),
                bytes.len()
            ));
        }
        println!(
            "rendered in Chromium: {found}; screenshot: {}",
            screenshot.display()
        );
        Ok(Outcome::Passed)
    })();
    let _ = fs::remove_dir_all(&scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::html::page;
    use crate::bench::report::tests::fixture_report;

    #[test]
    fn the_page_announces_what_the_check_expects() {
        let report = fixture_report();
        let html = page(&report);
        assert_eq!(
            meta_count(&html, "tidewater-areas"),
            Some(report.areas.len())
        );
        assert_eq!(
            meta_count(&html, "tidewater-cases"),
            Some(report.all_cases().count())
        );
        assert_eq!(meta_count("<html>", "tidewater-areas"), None);
        // The page as written passes the DOM check (Chromium keeps this markup as is).
        assert!(check_dom(&html, report.areas.len(), report.all_cases().count()).is_ok());
    }

    #[test]
    fn a_page_without_charts_or_rows_fails() {
        let err = check_dom("<html><body></body></html>", 2, 5).unwrap_err();
        assert!(
            err.contains("2 chart(s)")
                && err.contains("cases table")
                && err.contains("5 case row(s)"),
            "{err}"
        );
        let truncated =
            check_dom(r#"<svg data-check="chart"><table id="cases">"#, 1, 0).unwrap_err();
        assert!(truncated.contains("truncated"));
    }
}
