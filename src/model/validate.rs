//! The one set of validation rules (docs/design.md §1), shared by every entry point.

use std::fmt;

/// Longest id, user id or record type, in bytes.
pub const MAX_ID_BYTES: usize = 255;
/// Longest title or director, in bytes.
pub const MAX_TITLE_BYTES: usize = 255;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;
/// Lowest and highest rating a user can give.
pub const RATING_RANGE: std::ops::RangeInclusive<i64> = 1..=5;

/// A value that broke a rule: names the field, shows the value and says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match value {
    Some(value) => format!("invalid {field} {value}: {expected}"),
    None => format!("{field} {expected}"),
})]
pub struct ValidationError {
    pub field: &'static str,
    /// The offending value, quoted and shortened for display; `None` when it is missing.
    pub value: Option<Shown>,
    pub expected: String,
}

impl ValidationError {
    pub fn new(field: &'static str, value: &str, expected: impl Into<String>) -> Self {
        Self {
            field,
            value: Some(Shown::of(value)),
            expected: expected.into(),
        }
    }
}

/// A value quoted for an error message as JSON quotes a string (`"bad\u0001title"`, the
/// escape people and tools know, not Rust's `\u{1}`); long values are cut so a message
/// stays one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown(String);

impl Shown {
    const MAX_CHARS: usize = 40;

    pub fn of(value: &str) -> Self {
        let chars = value.chars().count();
        if chars <= Self::MAX_CHARS {
            Self(quote(value))
        } else {
            let head: String = value.chars().take(Self::MAX_CHARS).collect();
            Self(format!("{}… ({} bytes)", quote(&head), value.len()))
        }
    }
}

fn quote(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An identifier: a movie id, record id, user id or record type (the id types of
/// [`super::ids`] are built through it), or a name a command takes (topic, service).
/// Non-empty, at most 255 bytes, no control characters.
pub fn id(field: &'static str, value: impl Into<String>) -> Result<String, ValidationError> {
    let value = value.into();
    check_id(field, &value)?;
    Ok(value)
}

/// What [`id`] accepts, as a JSON Schema string for the OpenAPI documents. JSON Schema
/// counts characters where the rule counts bytes: the two agree on ASCII, and the
/// description says which it is.
pub fn id_schema(field: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::{Type, schema::ObjectBuilder};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_ID_BYTES))
        .pattern(Some(NO_CONTROL_CHARACTERS))
        .description(Some(format!(
            "A {field}: 1 to {MAX_ID_BYTES} bytes of UTF-8, no control characters"
        )))
        .into()
}

/// A JSON Schema pattern: no control characters (Unicode category Cc, as
/// [`char::is_control`]).
pub const NO_CONTROL_CHARACTERS: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// The control characters (category Cc) in a JSON Schema pattern's character class.
pub const CONTROL_CHARACTERS_CLASS: &str = "\\u0000-\\u001F\\u007F-\\u009F";

/// A JSON Schema string of at most `max` bytes (counted as characters: the two agree on
/// ASCII) matching `pattern`, for the OpenAPI documents.
pub fn text_schema(
    description: String,
    max: usize,
    pattern: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::{Type, schema::ObjectBuilder};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

fn check_id(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::new(field, value, "must not be empty"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(ValidationError::new(
            field,
            value,
            format!("must be at most {MAX_ID_BYTES} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            value,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Which control characters free text may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line (title, director): no control characters at all.
    One,
    /// Several lines (description): newlines, carriage returns and tabs, nothing else.
    Many,
}

/// Free text (title, director, description): at most `max` bytes, and no control
/// characters beyond what `lines` allows (an escape sequence in a title would reach every
/// terminal that prints it).
pub fn text(
    field: &'static str,
    value: &str,
    max: usize,
    lines: Lines,
) -> Result<(), ValidationError> {
    if value.len() > max {
        return Err(ValidationError::new(
            field,
            value,
            format!("must be at most {max} bytes"),
        ));
    }
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        let expected = match lines {
            Lines::One => "must not contain control characters",
            Lines::Many => "must not contain control characters other than newlines and tabs",
        };
        return Err(ValidationError::new(field, value, expected));
    }
    Ok(())
}

/// A required field that the sender left out: "`field` is required".
pub fn missing(field: &'static str) -> ValidationError {
    ValidationError {
        field,
        value: None,
        expected: "is required".to_owned(),
    }
}

/// A rating value: an integer from 1 to 5.
pub fn rating_value(value: i64) -> Result<u8, ValidationError> {
    if RATING_RANGE.contains(&value) {
        // The range check above makes the conversion infallible.
        Ok(value as u8)
    } else {
        Err(ValidationError::new(
            "rating value",
            &value.to_string(),
            rating_expectation(),
        ))
    }
}

/// A rating value typed by a person (CLI argument, HTTP query): exactly one digit from 1
/// to 5, no sign, padding or leading zero.
pub fn rating_value_text(value: &str) -> Result<u8, ValidationError> {
    match value.as_bytes() {
        [digit @ b'1'..=b'5'] => Ok(digit - b'0'),
        _ => Err(ValidationError::new(
            "rating value",
            value,
            rating_expectation(),
        )),
    }
}

/// What [`rating_value`] accepts, as a JSON Schema integer.
pub fn rating_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::{Type, schema::ObjectBuilder};
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(*RATING_RANGE.start()))
        .maximum(Some(*RATING_RANGE.end()))
        .description(Some("A rating: an integer from 1 to 5"))
        .into()
}

fn rating_expectation() -> String {
    format!(
        "expected an integer from {} to {}",
        RATING_RANGE.start(),
        RATING_RANGE.end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_as_json_quotes_them() {
        assert_eq!(
            Shown::of("bad\u{1}title").to_string(),
            r#""bad\u0001title""#
        );
        assert_eq!(Shown::of("say \"hi\"\n").to_string(), r#""say \"hi\"\n""#);
        assert_eq!(Shown::of("é🎬").to_string(), "\"é🎬\"");
        let long = Shown::of(&"x".repeat(50)).to_string();
        assert!(long.ends_with("\"… (50 bytes)"), "{long}");
    }

    #[test]
    fn ids_must_be_non_empty_short_and_printable() {
        assert_eq!(id("movie id", "the-movie").as_deref(), Ok("the-movie"));
        assert!(id("movie id", "x".repeat(255)).is_ok());
        let empty = id("movie id", "").unwrap_err();
        assert_eq!(
            empty.to_string(),
            r#"invalid movie id "": must not be empty"#
        );
        let long = id("movie id", "x".repeat(256)).unwrap_err();
        assert!(long.to_string().contains("at most 255 bytes"), "{long}");
        assert!(long.to_string().contains("(256 bytes)"), "{long}");
        assert!(id("user id", "a\nb").is_err());
        assert!(id("user id", "a\u{7f}b").is_err());
    }

    #[test]
    fn multibyte_ids_are_measured_in_bytes() {
        // 128 two-byte characters = 256 bytes.
        assert!(id("movie id", "é".repeat(127)).is_ok());
        assert!(id("movie id", "é".repeat(128)).is_err());
    }

    #[test]
    fn rating_values_are_one_to_five() {
        for v in 1..=5 {
            assert_eq!(rating_value(v), Ok(v as u8));
        }
        for v in [0, 6, -1, i64::MAX] {
            assert!(rating_value(v).is_err(), "{v}");
        }
        assert_eq!(rating_value_text("4"), Ok(4));
        for sloppy in [" 4 ", " 3", "+3", "03", "3 ", "", "6", "0"] {
            assert!(rating_value_text(sloppy).is_err(), "{sloppy:?}");
        }
        let err = rating_value_text("abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid rating value "abc": expected an integer from 1 to 5"#
        );
        assert!(rating_value_text("4.5").is_err());
    }

    #[test]
    fn missing_fields_say_so() {
        assert_eq!(
            missing("query parameter id").to_string(),
            "query parameter id is required"
        );
    }

    #[test]
    fn text_limits() {
        let one = |v: &str| text("title", v, MAX_TITLE_BYTES, Lines::One);
        let many = |v: &str| text("description", v, MAX_DESCRIPTION_BYTES, Lines::Many);
        assert!(one(&"t".repeat(MAX_TITLE_BYTES)).is_ok());
        assert!(one(&"t".repeat(MAX_TITLE_BYTES + 1)).is_err());
        assert!(many("").is_ok());
        for bad in ["\x1b[31mred", "a\0b", "a\nb", "a\tb", "\u{7f}"] {
            assert!(one(bad).is_err(), "{bad:?}");
        }
        assert!(many("line one\nline two\twith a tab\r\n").is_ok());
        assert!(many("\x1b[31mred").is_err());
        assert!(many("a\0b").is_err());
    }
}
