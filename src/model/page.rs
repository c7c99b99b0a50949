//! Pages of a listing, as Google's API design guide (AIP-158) describes them: a requested
//! size with a default and a maximum, and an opaque token that says where the next page
//! starts. Listings are ordered by a unique key (an id), so a page starts after the last key
//! of the one before: pages stay consistent while others insert, and no page is read with
//! an OFFSET.
//!
//! A token carries that key and a tag binding it to the listing's filters: a token edited
//! by hand, or used with other filters, is refused as invalid rather than read as another
//! query. The tag detects mistakes, not forgery; a forged token could only ask for a page
//! the caller may read anyway.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::ValidationError;

/// Items on a page when the request asks for 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The most items on one page; larger requests are lowered to it.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Token format version, its first byte.
const VERSION: u8 = 1;
/// Bytes of the tag that ends a token.
const TAG_BYTES: usize = 12;

/// The page size a request asked for: 0 is the default, above the maximum is the maximum,
/// and a negative size is refused.
pub fn page_size(requested: i64) -> Result<usize, ValidationError> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(ValidationError::new(
            "page_size",
            &n.to_string(),
            format!("expected 0 (the default, {DEFAULT_PAGE_SIZE}) to {MAX_PAGE_SIZE}"),
        )),
        n => Ok(usize::try_from(n).map_or(MAX_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE))),
    }
}

/// The token of the page that starts after `last`, in the listing whose filters `query`
/// writes out (e.g. the title prefix).
pub fn next_token(query: &str, last: &str) -> String {
    let mut bytes = Vec::with_capacity(1 + last.len() + TAG_BYTES);
    bytes.push(VERSION);
    bytes.extend_from_slice(last.as_bytes());
    let tag = tag(query, &bytes);
    bytes.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The key a page starts after: `None` for an empty token (the first page). Refuses a token
/// that was not issued for this listing with these filters, or was altered.
pub fn start_after(query: &str, token: &str) -> Result<Option<String>, ValidationError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        ValidationError::new(
            "page_token",
            token,
            "expected the next_page_token of an earlier answer to the same request, with the same filters",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    if bytes.len() < 1 + TAG_BYTES || bytes[0] != VERSION {
        return Err(invalid());
    }
    let (body, given) = bytes.split_at(bytes.len() - TAG_BYTES);
    if tag(query, body) != given {
        return Err(invalid());
    }
    String::from_utf8(body[1..].to_vec())
        .map(Some)
        .map_err(|_| invalid())
}

/// A page from `items`, read with one item more than `size` to learn whether another page
/// follows: the first `size` items, and the token of the next page (after the last item's
/// `key`), or `None` on the last page.
pub fn cut<T>(
    mut items: Vec<T>,
    size: usize,
    query: &str,
    key: impl Fn(&T) -> &str,
) -> (Vec<T>, Option<String>) {
    if items.len() <= size {
        return (items, None);
    }
    items.truncate(size);
    let next = items.last().map(|last| next_token(query, key(last)));
    (items, next)
}

fn tag(query: &str, body: &[u8]) -> [u8; TAG_BYTES] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"movieapp page token\0");
    context.update(&(query.len() as u64).to_be_bytes());
    context.update(query.as_bytes());
    context.update(body);
    let digest = context.finish();
    let mut tag = [0; TAG_BYTES];
    tag.copy_from_slice(&digest.as_ref()[..TAG_BYTES]);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_aip_158() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(7).unwrap(), 7);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(page_size(i64::MAX).unwrap(), MAX_PAGE_SIZE);
        let err = page_size(-1).unwrap_err().to_string();
        assert!(err.contains("page_size") && err.contains("-1"), "{err}");
    }

    #[test]
    fn a_token_round_trips_for_its_own_query_only() {
        let token = next_token("title:Th", "movie 42/é");
        assert_eq!(
            start_after("title:Th", &token).unwrap().as_deref(),
            Some("movie 42/é")
        );
        assert_eq!(start_after("title:Th", "").unwrap(), None);
        // Other filters, or any change to the token, and it is refused.
        assert!(start_after("title:", &token).is_err());
        let mut edited = token.clone().into_bytes();
        edited[2] = if edited[2] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap();
        assert!(start_after("title:Th", &edited).is_err());
        for junk in ["x", "!!!", "AAAA", &token[..token.len() - 1]] {
            let err = start_after("title:Th", junk).unwrap_err().to_string();
            assert!(err.contains("page_token"), "{err}");
        }
    }
}
