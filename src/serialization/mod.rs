//! The book's chapter-4 comparison of serialization formats for `Metadata` (docs/design.md §6):
//! codecs for each format, and a harness that times them honestly.

pub mod codecs;
pub mod measure;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::pb;

/// The book's Go struct as chapter 4 serializes it: plain fields. The benchmark measures
/// the formats, not our rules (the Go code applies none); a value read from a file is
/// checked with the model's rules before it is measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub id: String,
    pub title: String,
    pub description: String,
    pub director: String,
}

impl From<Metadata> for pb::Metadata {
    fn from(m: Metadata) -> Self {
        Self {
            id: m.id,
            title: m.title,
            description: m.description,
            director: m.director,
        }
    }
}

/// A format in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// serde_json, the book's lowercase field names
    Json,
    /// quick-xml, Go's element names (`<Metadata><ID>…`)
    Xml,
    /// serde_yaml_ng
    Yaml,
    /// prost, the generated `Metadata`
    Protobuf,
    /// rmp-serde, fields by name
    Msgpack,
    /// ciborium, fields by name
    Cbor,
    /// postcard, fields by position
    Postcard,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Self::Protobuf,
        Self::Json,
        Self::Xml,
        Self::Yaml,
        Self::Msgpack,
        Self::Cbor,
        Self::Postcard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "JSON",
            Self::Xml => "XML",
            Self::Yaml => "YAML",
            Self::Protobuf => "Protobuf",
            Self::Msgpack => "MessagePack",
            Self::Cbor => "CBOR",
            Self::Postcard => "postcard",
        }
    }

    /// The Go figures for this format, where the book measured it.
    pub fn go_reference(self) -> Option<GoReference> {
        match self {
            Self::Json => Some(GoReference {
                bytes: 106,
                encode_ns: 313.0,
                decode_ns: 1460.0,
                book_encode_ns: 342.0,
            }),
            Self::Xml => Some(GoReference {
                bytes: 148,
                encode_ns: 3967.0,
                decode_ns: 6140.0,
                book_encode_ns: 2519.0,
            }),
            Self::Protobuf => Some(GoReference {
                bytes: 63,
                encode_ns: 173.0,
                decode_ns: 305.0,
                book_encode_ns: 185.7,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reference figures (docs/design.md §6): the book's Go code built and run on the 2-core
/// development machine (median ns/op), and the book's own encode figure (i7-8850H).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoReference {
    pub bytes: usize,
    pub encode_ns: f64,
    pub decode_ns: f64,
    pub book_encode_ns: f64,
}

/// The book's value.
pub fn book_value() -> Metadata {
    Metadata {
        id: "123".to_owned(),
        title: "The Movie 2".to_owned(),
        description: "Sequel of the legendary The Movie".to_owned(),
        director: "Foo Bars".to_owned(),
    }
}
