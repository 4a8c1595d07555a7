//! Floats the way PHP writes and reads them in `serialize()`.
//!
//! PHP (with the default `serialize_precision = -1`) writes the shortest digits that round-trip,
//! laid out by `zend_gcvt`: plain decimal while the decimal exponent is in `-4..=16`, scientific
//! (`1.0E+17`, `1.2345E-5`) outside it, no `.0` on integral values, and `NAN`, `INF`, `-INF`, `-0`
//! spelled out. Rust's `{:e}` formatting already yields the shortest round-trip digits, so only the
//! layout is ours.

/// The text PHP's `serialize()` writes between `d:` and `;` for `value`.
pub fn php_repr(value: f64) -> String {
    if value.is_nan() {
        return "NAN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "INF".into()
        } else {
            "-INF".into()
        };
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (mut digits, mut exp) = sci_digits(&format!("{:e}", value.abs()));
    if digits.len() >= 17 {
        // When all 17 digits are needed and the exact value lies halfway between two 17-digit
        // strings, PHP's zend_dtoa rounds half to even, while the shortest-digits formatter picks
        // the upper one. The fixed-precision formatter rounds exactly, half to even, like PHP.
        (digits, exp) = sci_digits(&format!("{:.16e}", value.abs()));
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
        }
    }
    let mut out = String::with_capacity(digits.len() + 8);
    if value < 0.0 {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&exp.unsigned_abs().to_string());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    }
    out
}

/// Split Rust's `d[.ddd]e[-]x` into the digit string and the exponent of the first digit.
fn sci_digits(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    (
        mantissa.chars().filter(|c| *c != '.').collect(),
        exp.parse().unwrap_or(0),
    )
}

/// Read the text between `d:` and `;` with PHP's grammar: `NAN`, `INF`, `-INF`, or
/// `[+-]?` digits with an optional fraction (`1.`, `.5`) and an optional `[eE][+-]?digits` exponent.
/// Returns `None` for anything else (hex, `inf`, `+INF`, empty mantissa, ...).
pub fn parse_php_float(text: &str) -> Option<f64> {
    match text {
        "NAN" => return Some(f64::NAN),
        "INF" => return Some(f64::INFINITY),
        "-INF" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let b = text.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        mantissa_digits += i - frac_start;
    }
    if mantissa_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    // Rust's parser rejects a bare trailing or leading dot in some positions; normalise.
    let normalised;
    let t = if text.contains(".e") || text.contains(".E") || text.ends_with('.') {
        normalised = text.replacen('.', ".0", 1);
        normalised.as_str()
    } else {
        text
    };
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each pair was printed by PHP 8.2's `serialize()` on this machine kind (see docs).
    #[test]
    fn matches_php_layout() {
        let cases: &[(f64, &str)] = &[
            (1e15, "1000000000000000"),
            (1e16, "10000000000000000"),
            (1e17, "1.0E+17"),
            (1.5e17, "1.5E+17"),
            (123456789012345678.0, "1.2345678901234568E+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0E-5"),
            (1.2345e-5, "1.2345E-5"),
            (100.0, "100"),
            (-0.0, "-0"),
            (0.0, "0"),
            (5e-324, "5.0E-324"),
            (1e100, "1.0E+100"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.5, "2.5"),
            (-1.5e-7, "-1.5E-7"),
            (123.0, "123"),
            (12345678901234567890.0, "1.2345678901234567E+19"),
            (f64::INFINITY, "INF"),
            (f64::NEG_INFINITY, "-INF"),
            (f64::NAN, "NAN"),
            // Halfway between two 17-digit strings: PHP rounds half to even.
            (f64::from(-242.8284f32), "-242.82839965820312"),
            (f64::from(1012.4251f32), "1012.4251098632812"),
        ];
        for (v, want) in cases {
            assert_eq!(php_repr(*v), *want, "{v:e}");
        }
    }

    #[test]
    fn reads_php_grammar() {
        assert_eq!(parse_php_float("1."), Some(1.0));
        assert_eq!(parse_php_float(".5"), Some(0.5));
        assert_eq!(parse_php_float("+1.5"), Some(1.5));
        assert_eq!(parse_php_float("1.0E+25"), Some(1e25));
        assert_eq!(parse_php_float("1.e3"), Some(1000.0));
        assert_eq!(parse_php_float("5.0E-324"), Some(5e-324));
        assert!(parse_php_float("-0").is_some_and(|f| f == 0.0 && f.is_sign_negative()));
        for bad in [
            "", ".", "inf", "+INF", "-NAN", "0x10", "1e", "1e+", "1.5.5", " 1", "e5",
        ] {
            assert_eq!(parse_php_float(bad), None, "{bad:?}");
        }
    }
}
