//! Which machine and toolchain a run was measured on, and when.

use std::fs;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// CPU model and logical core count from the text of `/proc/cpuinfo`.
pub(crate) fn describe_cpu(cpuinfo: &str, fallback_cores: usize) -> String {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name)
                .then(|| value.trim().to_string())
                .filter(|v| !v.is_empty())
        })
    };
    let model = field("model name")
        .or_else(|| field("Hardware"))
        .or_else(|| field("cpu model"))
        .unwrap_or_else(|| "unknown CPU".into());
    let processors = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count();
    let cores = if processors > 0 {
        processors
    } else {
        fallback_cores
    };
    let model = model.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "{model}, {cores} {}",
        if cores == 1 { "core" } else { "cores" }
    )
}

pub(crate) fn machine() -> String {
    let fallback = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mut text = describe_cpu(&cpuinfo, fallback);
    if let Ok(release) = fs::read_to_string("/proc/sys/kernel/osrelease") {
        text.push_str(&format!(", Linux {}", release.trim()));
    }
    text
}

/// `rustc --version` of the toolchain running the benches.
pub(crate) fn toolchain() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(
            || "rustc (version unknown)".into(),
            |v| v.trim().to_string(),
        )
}

/// `YYYY-MM-DD HH:MM UTC` for seconds since the Unix epoch (civil-from-days, proleptic Gregorian).
pub(crate) fn utc_date(epoch_secs: u64) -> String {
    let days = epoch_secs / 86_400;
    let secs_of_day = epoch_secs % 86_400;
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60
    )
}

pub(crate) fn now() -> String {
    utc_date(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_and_cores() {
        let info = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)   Processor\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n";
        assert_eq!(describe_cpu(info, 8), "Intel(R) Xeon(R) Processor, 2 cores");
        assert_eq!(describe_cpu("", 1), "unknown CPU, 1 core");
        assert_eq!(describe_cpu("Hardware : BCM2835\n", 4), "BCM2835, 4 cores");
    }

    #[test]
    fn dates_are_correct_across_leap_years() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date(1_709_251_199), "2024-02-29 23:59 UTC");
        assert_eq!(
            utc_date(1_798_761_600 + 3 * 3600 + 7 * 60),
            "2027-01-01 03:07 UTC"
        );
    }
}
