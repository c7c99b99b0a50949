//! One codec per format. Encoding writes into a caller-owned buffer that is cleared, not
//! reallocated, so a loop measures the encoding and not the allocator; decoding builds an
//! owned value, as a service receiving a message must.

use std::borrow::Cow;

use prost::Message;
use serde::{Deserialize, Serialize};

use super::Format;
use super::Metadata;
use crate::pb;

#[derive(Debug, thiserror::Error)]
#[error("{format} {operation} failed: {message}")]
pub struct CodecError {
    pub format: Format,
    pub operation: &'static str,
    pub message: String,
}

fn failed(format: Format, operation: &'static str, e: impl ToString) -> CodecError {
    CodecError {
        format,
        operation,
        message: e.to_string(),
    }
}

/// The value to encode, held in the shape each format encodes from: the domain struct for
/// the serde formats, the generated message for protobuf (as in the book's Go code).
#[derive(Debug, Clone)]
pub struct Subject {
    pub metadata: Metadata,
    pub proto: pb::Metadata,
}

impl Subject {
    pub fn new(metadata: Metadata) -> Self {
        Self {
            proto: metadata.clone().into(),
            metadata,
        }
    }
}

/// A format's encoder and decoder. Static functions, so a timing loop over one codec is a
/// direct call the compiler can see through.
pub trait Codec {
    const FORMAT: Format;
    fn encode(subject: &Subject, buf: &mut Vec<u8>) -> Result<(), CodecError>;
    fn decode(bytes: &[u8]) -> Result<Metadata, CodecError>;
}

pub struct Json;
pub struct Xml;
pub struct Yaml;
pub struct Protobuf;
pub struct Msgpack;
pub struct Cbor;
pub struct Postcard;

impl Codec for Json {
    const FORMAT: Format = Format::Json;

    fn encode(subject: &Subject, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        buf.clear();
        serde_json::to_writer(buf, &subject.metadata).map_err(|e| failed(Self::FORMAT, "encode", e))
    }

    fn decode(bytes: &[u8]) -> Result<Metadata, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| failed(Self::FORMAT, "decode", e))
    }
}

/// Go's `encoding/xml` of the book's struct: the Go field names are the element names.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Metadata")]
struct GoXml<'a> {
    #[serde(rename = "ID", borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "Title", borrow)]
    title: Cow<'a, str>,
    #[serde(rename = "Description", borrow)]
    description: Cow<'a, str>,
    #[serde(rename = "Director", borrow)]
    director: Cow<'a, str>,
}

impl Codec for Xml {
    const FORMAT: Format = Format::Xml;

    fn encode(subject: &Subject, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        buf.clear();
        let m = &subject.metadata;
        let view = GoXml {
            id: Cow::Borrowed(&m.id),
            title: Cow::Borrowed(&m.title),
            description: Cow::Borrowed(&m.description),
            director: Cow::Borrowed(&m.director),
        };
        quick_xml::se::to_utf8_io_writer(buf, &view)
            .map(|_| ())
            .map_err(|e| failed(Self::FORMAT, "encode", e))
    }

    fn decode(bytes: &[u8]) -> Result<Metadata, CodecError> {
        let text = std::str::from_utf8(bytes).map_err(|e| failed(Self::FORMAT, "decode", e))?;
        let x: GoXml<'_> =
            quick_xml::de::from_str(text).map_err(|e| failed(Self::FORMAT, "decode", e))?;
        Ok(Metadata {
            id: x.id.into_owned(),
            title: x.title.into_owned(),
            description: x.description.into_owned(),
            director: x.director.into_owned(),
        })
    }
}

impl Codec for Yaml {
    const FORMAT: Format = Format::Yaml;

    fn encode(subject: &Subject, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        buf.clear();
        serde_yaml_ng::to_writer(buf, &subject.metadata)
            .map_err(|e| failed(Self::FORMAT, "encode", e))
    }

    fn decode(bytes: &[u8]) -> Result<Metadata, CodecError> {
        serde_yaml_ng::from_slice(bytes).map_err(|e| failed(Self::FORMAT, "decode", e))
    }
}

impl Codec for Protobuf {
    const FORMAT: Format = Format::Protobuf;

    fn encode(subject: &Subject, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        buf.clear();
        subject
            .proto
            .encode(buf)
            .map_err(|e| failed(Self::FORMAT, "encode", e))
    }

    fn decode(bytes: &[u8]) -> Result<Metadata, CodecError> {
        let m = pb::Metadata::decode(bytes).map_err(|e| failed(Self::FORMAT, "decode", e))?;
        Ok(Metadata {
            id: m.id,
            title: m.title,
            description: m.description,
            director: m.director,
        })
    }
}

impl Codec for Msgpack {
    const FORMAT: Format = Format::Msgpack;

    fn encode(subject: &Subject, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        buf.clear();
        rmp_serde::encode::write_named(buf, &subject.metadata)
            .map_err(|e| failed(Self::FORMAT, "encode", e))
    }

    fn decode(bytes: &[u8]) -> Result<Metadata, CodecError> {
        rmp_serde::from_slice(bytes).map_err(|e| failed(Self::FORMAT, "decode", e))
    }
}

impl Codec for Cbor {
    const FORMAT: Format = Format::Cbor;

    fn encode(subject: &Subject, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        buf.clear();
        ciborium::into_writer(&subject.metadata, buf).map_err(|e| failed(Self::FORMAT, "encode", e))
    }

    fn decode(bytes: &[u8]) -> Result<Metadata, CodecError> {
        ciborium::from_reader(bytes).map_err(|e| failed(Self::FORMAT, "decode", e))
    }
}

impl Codec for Postcard {
    const FORMAT: Format = Format::Postcard;

    fn encode(subject: &Subject, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        buf.clear();
        postcard::to_io(&subject.metadata, buf)
            .map(|_| ())
            .map_err(|e| failed(Self::FORMAT, "encode", e))
    }

    fn decode(bytes: &[u8]) -> Result<Metadata, CodecError> {
        postcard::from_bytes(bytes).map_err(|e| failed(Self::FORMAT, "decode", e))
    }
}

/// Calls `f` with the codec of `format`: one dispatch, outside any timing loop. Each
/// format's codec type has the format's name.
#[macro_export]
macro_rules! with_codec {
    ($format:expr, $codec:ident => $body:expr) => {
        $crate::with_codec!(@each $format, $codec, $body; Json Xml Yaml Protobuf Msgpack Cbor Postcard)
    };
    (@each $format:expr, $codec:ident, $body:expr; $($name:ident)*) => {{
        use $crate::serialization::{Format, codecs::*};
        match $format {
            $(Format::$name => {
                type $codec = $name;
                $body
            })*
        }
    }};
}

impl Format {
    /// Encodes `subject` into `buf` (cleared first).
    pub fn encode(self, subject: &Subject, buf: &mut Vec<u8>) -> Result<(), CodecError> {
        with_codec!(self, C => C::encode(subject, buf))
    }

    pub fn decode(self, bytes: &[u8]) -> Result<Metadata, CodecError> {
        with_codec!(self, C => C::decode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::serialization::book_value;

    fn encoded(format: Format, m: &Metadata) -> Vec<u8> {
        let mut buf = Vec::new();
        format.encode(&Subject::new(m.clone()), &mut buf).unwrap();
        buf
    }

    #[test]
    fn sizes_are_the_books_and_gos() {
        let book = book_value();
        assert_eq!(encoded(Format::Json, &book).len(), 106);
        assert_eq!(encoded(Format::Xml, &book).len(), 148);
        assert_eq!(encoded(Format::Protobuf, &book).len(), 63);
        for format in Format::ALL {
            if let Some(reference) = format.go_reference() {
                assert_eq!(encoded(format, &book).len(), reference.bytes, "{format}");
            }
        }
    }

    #[test]
    fn encodings_look_like_gos() {
        let book = book_value();
        assert_eq!(
            String::from_utf8(encoded(Format::Json, &book)).unwrap(),
            r#"{"id":"123","title":"The Movie 2","description":"Sequel of the legendary The Movie","director":"Foo Bars"}"#
        );
        assert_eq!(
            String::from_utf8(encoded(Format::Xml, &book)).unwrap(),
            "<Metadata><ID>123</ID><Title>The Movie 2</Title><Description>Sequel of the legendary The Movie</Description><Director>Foo Bars</Director></Metadata>"
        );
    }

    #[test]
    fn every_format_round_trips_the_book_value_with_a_reused_buffer() {
        let book = book_value();
        let subject = Subject::new(book.clone());
        let mut buf = Vec::new();
        for format in Format::ALL {
            for _ in 0..2 {
                format.encode(&subject, &mut buf).unwrap();
                assert_eq!(format.decode(&buf).unwrap(), book, "{format}");
            }
        }
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        for format in Format::ALL {
            let err = format.decode(b"\xff\x00not a message").unwrap_err();
            assert_eq!(err.format, format);
            assert_eq!(err.operation, "decode");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn arbitrary_unicode_round_trips_through_every_format(
            id in "\\PC{1,40}",
            title in any::<String>(),
            description in any::<String>(),
            director in "\\PC{0,40}",
        ) {
            let m = Metadata { id, title, description, director };
            let subject = Subject::new(m.clone());
            let mut buf = Vec::new();
            for format in Format::ALL {
                format.encode(&subject, &mut buf).unwrap();
                let back = format.decode(&buf);
                prop_assert_eq!(back.as_ref().ok(), Some(&m), "{} gave {:?} for {:?}", format, back, String::from_utf8_lossy(&buf));
            }
        }
    }
}
