//! Topic names and wildcard patterns: dot-separated segments, `*` for exactly one segment,
//! `>` (last only) for one or more remaining segments.

use crate::error::TopicError;

/// Checks a topic name: non-empty segments, no wildcard characters.
pub(crate) fn check_name(name: &str) -> Result<(), TopicError> {
    let bad = name
        .split('.')
        .any(|seg| seg.is_empty() || seg.contains(['*', '>']));
    if bad {
        Err(TopicError::InvalidName {
            name: name.to_owned(),
        })
    } else {
        Ok(())
    }
}

/// A parsed wildcard pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Rest,
}

impl Pattern {
    pub(crate) fn parse(pattern: &str) -> Result<Self, TopicError> {
        let invalid = || TopicError::InvalidPattern {
            pattern: pattern.to_owned(),
        };
        let parts: Vec<&str> = pattern.split('.').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "" => return Err(invalid()),
                "*" => Segment::One,
                ">" if i + 1 == parts.len() => Segment::Rest,
                p if p.contains(['*', '>']) => return Err(invalid()),
                p => Segment::Literal(p.to_owned()),
            });
        }
        Ok(Self { segments })
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        let mut parts = name.split('.');
        for segment in &self.segments {
            match (segment, parts.next()) {
                (Segment::Rest, Some(_)) => return true,
                (Segment::One, Some(_)) => {}
                (Segment::Literal(lit), Some(part)) if lit == part => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_segments() {
        let p = Pattern::parse("orders.*").unwrap();
        assert!(p.matches("orders.eu"));
        assert!(!p.matches("orders"));
        assert!(!p.matches("orders.eu.paid"));
        assert!(!p.matches("refunds.eu"));
        let p = Pattern::parse("orders.>").unwrap();
        assert!(p.matches("orders.eu.paid"));
        assert!(!p.matches("orders"));
        let p = Pattern::parse("*.paid").unwrap();
        assert!(p.matches("orders.paid"));
        assert!(!p.matches("orders.open"));
    }

    #[test]
    fn bad_names_and_patterns_are_errors() {
        for name in ["", "a..b", ".a", "a.", "a.*", "a>b"] {
            assert!(check_name(name).is_err(), "{name}");
        }
        for pattern in ["", "a..b", ">.a", "a*", "a.b>"] {
            assert!(Pattern::parse(pattern).is_err(), "{pattern}");
        }
        assert!(check_name("orders.eu-west.paid").is_ok());
    }
}
