//! The rules of a lock row, shared by the sqlite and memory stores: who may take a key,
//! renew or release it, and what its status is. Times are wall-clock Unix milliseconds.

use super::{KeyStatus, Lease};

/// A key's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The holder of the latest lease; `None` once released.
    pub holder: Option<String>,
    /// The latest fencing token given out.
    pub token: u64,
    pub expires_at_ms: i64,
}

/// The row after `holder` takes the key, or what is in the way.
pub fn acquire(
    row: Option<&Row>,
    holder: &str,
    now: i64,
    ttl_ms: i64,
    delay_ms: i64,
) -> Result<Row, String> {
    let token = match row {
        None => 1,
        Some(row) => {
            if let Some(current) = &row.holder {
                if now < row.expires_at_ms {
                    return Err(format!("{current} (token {})", row.token));
                }
                let free_at = row.expires_at_ms.saturating_add(delay_ms);
                if now < free_at {
                    return Err(format!(
                        "nobody: the lease of {current} expired unreleased, and the lock-delay keeps the key for {} ms more",
                        free_at - now
                    ));
                }
            }
            row.token + 1
        }
    };
    Ok(Row {
        holder: Some(holder.to_owned()),
        token,
        expires_at_ms: now.saturating_add(ttl_ms),
    })
}

/// True while `lease` is the live lease of `row`.
pub fn live(row: &Row, lease: &Lease, now: i64) -> bool {
    row.holder.as_deref() == Some(lease.holder.as_str())
        && row.token == lease.token
        && now < row.expires_at_ms
}

/// The key as `lock status` shows it.
pub fn status(key: &str, row: &Row, now: i64, delay_ms: i64) -> KeyStatus {
    let live = row.holder.is_some() && now < row.expires_at_ms;
    let delayed_until = row.expires_at_ms.saturating_add(delay_ms);
    KeyStatus {
        key: key.to_owned(),
        holder: if live { row.holder.clone() } else { None },
        token: row.token,
        expires_at_ms: live.then_some(row.expires_at_ms),
        delayed_until_ms: (row.holder.is_some() && !live && now < delayed_until)
            .then_some(delayed_until),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: i64 = 1_000;
    const DELAY: i64 = 5_000;

    fn lease(row: &Row) -> Lease {
        Lease {
            key: "k".into(),
            holder: row.holder.clone().unwrap(),
            token: row.token,
            expires_at_ms: row.expires_at_ms,
            session: String::new(),
        }
    }

    #[test]
    fn tokens_grow_and_an_expired_lease_blocks_for_the_lock_delay() {
        let a = acquire(None, "a", 0, TTL, DELAY).unwrap();
        assert_eq!((a.token, a.expires_at_ms), (1, TTL));
        // Held: nobody else gets it.
        let busy = acquire(Some(&a), "b", 500, TTL, DELAY).unwrap_err();
        assert!(busy.contains("a (token 1)"), "{busy}");
        assert!(live(&a, &lease(&a), 999));
        assert!(!live(&a, &lease(&a), 1_000));
        // Expired unreleased: blocked for the lock-delay, then the next token.
        let delayed = acquire(Some(&a), "b", 1_500, TTL, DELAY).unwrap_err();
        assert!(delayed.contains("lock-delay"), "{delayed}");
        assert_eq!(status("k", &a, 1_500, DELAY).delayed_until_ms, Some(6_000));
        let b = acquire(Some(&a), "b", 6_000, TTL, DELAY).unwrap();
        assert_eq!(b.token, 2);
        // The old holder's lease is not live against the new row.
        assert!(!live(&b, &lease(&a), 6_001));
        // Released: free at once, and the token still grows.
        let released = Row {
            holder: None,
            ..b.clone()
        };
        let c = acquire(Some(&released), "c", 6_001, TTL, DELAY).unwrap();
        assert_eq!(c.token, 3);
        let shown = status("k", &c, 6_002, DELAY);
        assert_eq!(shown.holder.as_deref(), Some("c"));
        assert_eq!(shown.delayed_until_ms, None);
    }
}
