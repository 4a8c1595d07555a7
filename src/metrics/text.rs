//! Prometheus' text exposition format, version 0.0.4: the small part of it larq writes.
//!
//! The format is line based: `# HELP name text`, `# TYPE name kind`, then one line per sample,
//! `name{label="value",...} number`. A family's lines must be contiguous and its TYPE line must come
//! before its samples. Only three things need care, and they are all here: HELP text escapes `\` and
//! newlines; label values also escape `"`; numbers use Go's spelling (`+Inf`, `-Inf`, `NaN`).
//! Label *names* and metric names are our own constants, so they are not escaped.

use std::fmt::Write as _;

/// The `Content-Type` of a body in this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a family is, for its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (restarts at 0 with the process).
    Counter,
    /// Goes up and down.
    Gauge,
    /// `_bucket`/`_sum`/`_count` samples.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Append `text` to `out` as a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub(crate) fn escape_label_value(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Append `text` to `out` as HELP text: `\` → `\\`, newline → `\n` (quotes stay as they are).
pub(crate) fn escape_help(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Append a sample value the way Prometheus (Go's `strconv.ParseFloat`) reads it back.
pub(crate) fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // Rust's shortest round-trip form; never an exponent, which Go reads either way.
        let _ = write!(out, "{v}");
    }
}

/// Append the `# HELP` and `# TYPE` lines that open a family.
pub fn family(out: &mut String, name: &str, kind: Kind, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(out, help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind.as_str());
    out.push('\n');
}

/// Append `name{labels} ` (no braces when there are no labels), ready for the value; `le` is a
/// histogram bucket's bound, written last.
fn sample_head(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    le: Option<f64>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
        if let Some(bound) = le {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
            push_float(out, bound);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

/// Append one sample with an integer value.
pub fn sample_u64(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    sample_head(out, name, "", labels, None);
    let _ = writeln!(out, "{value}");
}

/// Append one sample with a float value.
pub fn sample_f64(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    sample_head(out, name, "", labels, None);
    push_float(out, value);
    out.push('\n');
}

/// Append the samples of one histogram series: a cumulative `_bucket` per upper bound (seconds)
/// from per-bucket `counts` (the last one is `+Inf`), then `_sum` and `_count`.
pub fn histogram(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    bounds: &[f64],
    counts: &[u64],
    sum: f64,
) {
    debug_assert_eq!(bounds.len() + 1, counts.len());
    let mut cumulative = 0u64;
    for (i, count) in counts.iter().enumerate() {
        cumulative += count;
        let bound = bounds.get(i).copied().unwrap_or(f64::INFINITY);
        sample_head(out, name, "_bucket", labels, Some(bound));
        let _ = writeln!(out, "{cumulative}");
    }
    sample_head(out, name, "_sum", labels, None);
    push_float(out, sum);
    out.push('\n');
    sample_head(out, name, "_count", labels, None);
    let _ = writeln!(out, "{cumulative}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        let mut out = String::new();
        escape_label_value(&mut out, "App\\Jobs\\\"Odd\"\nJob\ttab é");
        assert_eq!(out, "App\\\\Jobs\\\\\\\"Odd\\\"\\nJob\ttab é");
    }

    #[test]
    fn help_keeps_quotes() {
        let mut out = String::new();
        escape_help(&mut out, "a \"b\" \\ c\nd");
        assert_eq!(out, "a \"b\" \\\\ c\\nd");
    }

    #[test]
    fn floats_use_go_spellings() {
        let mut out = String::new();
        for v in [
            0.001,
            1.0,
            2.5,
            60.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            push_float(&mut out, v);
            out.push(' ');
        }
        assert_eq!(out, "0.001 1 2.5 60 +Inf -Inf NaN ");
    }

    #[test]
    fn a_family_with_labels() {
        let mut out = String::new();
        family(&mut out, "larq_x_total", Kind::Counter, "Jobs \\ things.");
        sample_u64(
            &mut out,
            "larq_x_total",
            &[("class", "App\\Jobs\\SomeJob"), ("queue", "default")],
            3,
        );
        sample_f64(&mut out, "larq_up", &[], 1.5);
        assert_eq!(
            out,
            "# HELP larq_x_total Jobs \\\\ things.\n# TYPE larq_x_total counter\nlarq_x_total{class=\"App\\\\Jobs\\\\SomeJob\",queue=\"default\"} 3\nlarq_up 1.5\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let mut out = String::new();
        histogram(
            &mut out,
            "d",
            &[("queue", "q")],
            &[0.1, 1.0],
            &[2, 0, 1],
            3.25,
        );
        assert_eq!(
            out,
            "d_bucket{queue=\"q\",le=\"0.1\"} 2\nd_bucket{queue=\"q\",le=\"1\"} 2\nd_bucket{queue=\"q\",le=\"+Inf\"} 3\nd_sum{queue=\"q\"} 3.25\nd_count{queue=\"q\"} 3\n"
        );
    }
}
