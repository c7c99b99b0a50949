//! TLS on the services' ports: a rustls configuration read from `tls.cert`, `tls.key` and
//! `tls.clientCa`, read again when the files change (new connections get the new
//! certificate; open ones keep theirs). The connection type that does the handshake is the
//! server's ([`crate::server`]'s `conn::tls`).

use std::{
    path::PathBuf,
    sync::{Arc, PoisonError, RwLock},
};

use rustls::ServerConfig;

use super::{Settings, TlsError, invalid, provider, read_pem};
use crate::files::Stamps;

/// The servers' TLS configuration, reloaded when its files change.
pub struct ServerTls {
    files: Vec<PathBuf>,
    settings: Settings,
    current: RwLock<(Arc<ServerConfig>, Stamps)>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .finish()
    }
}

impl ServerTls {
    /// The configuration of `settings`, if the servers speak TLS. Blocking.
    pub fn open(settings: &Settings) -> Result<Option<Arc<Self>>, TlsError> {
        if !settings.serving() {
            return Ok(None);
        }
        let files: Vec<PathBuf> = [&settings.cert, &settings.key, &settings.client_ca]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let stamps = Stamps::of(&files);
        let config = build(settings)?;
        if let Some(problem) = out_of_date(settings)? {
            if !settings.allow_expired {
                return Err(TlsError::Invalid {
                    what: "tls.cert".into(),
                    reason: format!(
                        "{problem}: renew it, or set tls.allowExpired: true to serve it anyway"
                    ),
                });
            }
            tracing::warn!(%problem, "serving a TLS certificate clients will refuse (tls.allowExpired)");
        }
        Ok(Some(Arc::new(Self {
            files,
            settings: settings.clone(),
            current: RwLock::new((config, stamps)),
        })))
    }

    /// The configuration for a new connection.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .0,
        )
    }

    /// Reads the files again if they changed. A change that does not load (a certificate
    /// written before its key) keeps the configuration in use, and is reported. Blocking.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let stamps = Stamps::of(&self.files);
        if stamps
            == self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .1
        {
            return Ok(false);
        }
        let config = build(&self.settings)?;
        if let Some(problem) = out_of_date(&self.settings)? {
            tracing::warn!(%problem, "the reloaded TLS certificate is not valid now: clients will refuse it");
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = (config, stamps);
        Ok(true)
    }

    /// Checks the files every [`crate::files::WATCH_INTERVAL`] until `stop`.
    pub async fn watch(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        crate::files::watch("TLS certificate", stop, move || self.reload_if_changed()).await;
    }
}

/// What is wrong with the dates of the servers' certificate, if anything: expired, not
/// valid yet; and a warning when it expires within [`EXPIRY_WARNING`].
fn out_of_date(settings: &Settings) -> Result<Option<String>, TlsError> {
    let Some(path) = &settings.cert else {
        return Ok(None);
    };
    let (not_before, not_after) = read_pem(path)?.validity()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let date = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map(|d| d.date().to_string())
            .unwrap_or_else(|_| t.to_string())
    };
    let shown = path.display();
    if now > not_after {
        return Ok(Some(format!("{shown} expired on {}", date(not_after))));
    }
    if now < not_before {
        return Ok(Some(format!(
            "{shown} is not valid before {}",
            date(not_before)
        )));
    }
    if not_after - now < EXPIRY_WARNING.as_secs() as i64 {
        tracing::warn!(cert = %shown, expires = %date(not_after), "the TLS certificate expires soon: renew it");
    }
    Ok(None)
}

/// How long before its expiry a certificate is warned about.
const EXPIRY_WARNING: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3600);

/// A rustls server configuration: the certificate and key, client certificates required
/// when `clientCa` is set, ALPN for gRPC (h2) and the HTTP API (HTTP/1.1).
fn build(settings: &Settings) -> Result<Arc<ServerConfig>, TlsError> {
    let (Some(cert), Some(key)) = (&settings.cert, &settings.key) else {
        return Err(invalid("tls", "tls.cert and tls.key must both be set"));
    };
    let cert = read_pem(cert)?;
    let key = read_pem(key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS", e))?;
    let builder = match &settings.client_ca {
        Some(ca) => {
            let ca = read_pem(ca)?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(ca.roots()?),
                provider(),
            )
            .build()
            .map_err(|e| invalid(ca.path.display(), format!("not a usable client CA ({e})")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(cert.certs()?, key.key()?)
        .map_err(|e| {
            invalid(
                cert.path.display(),
                format!("does not go with {} ({e})", key.path.display()),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
