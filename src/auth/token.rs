//! JSON Web Tokens: issued by the auth service, signed with its private key (EdDSA); checked
//! by every service locally with the public keys. The algorithm is pinned (no `none`, no
//! HMAC with a public key as secret), and every registered claim is required and checked.

use std::{collections::HashMap, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::{
    Role,
    keys::{JwkSet, SigningKey},
};

/// Clock difference between hosts that `exp` and `nbf` tolerate.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    /// Unique per token.
    pub jti: String,
    pub roles: Vec<Role>,
}

impl Claims {
    pub fn has(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r.includes(role))
    }
}

/// Why a token was refused. Messages name the problem, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's algorithm {0} is not accepted; tokens are signed with EdDSA")]
    Algorithm(String),
    #[error("the token names no signing key (kid)")]
    NoKeyId,
    #[error("the token was signed with an unknown key")]
    UnknownKey(String),
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for someone else")]
    WrongAudience,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the token's claims are not what movieapp issues")]
    BadClaims,
}

/// Who tokens come from and are for, and how long they last.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
}

/// Issues tokens with the newest key.
pub struct TokenIssuer {
    key: SigningKey,
    encoding: jsonwebtoken::EncodingKey,
    settings: TokenSettings,
}

impl TokenIssuer {
    pub fn new(key: SigningKey, settings: TokenSettings) -> Self {
        Self {
            encoding: key.encoding_key(),
            key,
            settings,
        }
    }

    /// A token for `user` with `roles`, valid from now for the configured time.
    pub fn issue(&self, user: &str, roles: &[Role]) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        self.issue_at(user, roles, now, now + self.settings.ttl.as_secs())
    }

    fn issue_at(
        &self,
        user: &str,
        roles: &[Role],
        nbf: u64,
        exp: u64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: user.to_owned(),
            iat: jsonwebtoken::get_current_timestamp(),
            nbf,
            exp,
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            jti: format!("{:032x}", rand::random::<u128>()),
            roles: roles.to_vec(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid().to_owned());
        super::eddsa::install();
        jsonwebtoken::encode(&header, &claims, &self.encoding)
    }
}

/// Checks tokens against a set of public keys.
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl TokenVerifier {
    /// Trusts the keys of `jwks`; tokens must come from `settings.issuer` for
    /// `settings.audience`.
    pub fn new(jwks: &JwkSet, settings: &TokenSettings) -> Self {
        let keys = jwks
            .keys
            .iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
            .filter_map(|k| Some((k.kid.clone(), DecodingKey::from_ed_components(&k.x).ok()?)))
            .collect();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY.as_secs();
        Self { keys, validation }
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        // A header jsonwebtoken cannot read may still name an algorithm (`none`): say so.
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            algorithm_named(token)
                .filter(|alg| alg != "EdDSA")
                .map_or(TokenError::Malformed, TokenError::Algorithm)
        })?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::NoKeyId)?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
        super::eddsa::install();
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
                ErrorKind::InvalidAlgorithm => {
                    TokenError::Algorithm(format!("{:?}", Algorithm::EdDSA))
                }
                ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => TokenError::BadClaims,
                _ => TokenError::Malformed,
            })
    }
}

/// The `alg` a token's header names, for the message (e.g. `none`): a short word only.
fn algorithm_named(token: &str) -> Option<String> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    token
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .and_then(|h| h["alg"].as_str().map(str::to_owned))
        .filter(|a| a.len() <= 16 && a.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "movieapp".into(),
            audience: "movieapp".into(),
            ttl: Duration::from_secs(3600),
        }
    }

    fn issuer() -> (TokenIssuer, TokenVerifier) {
        let key = SigningKey::generate().unwrap();
        let jwks = JwkSet {
            keys: vec![key.jwk()],
        };
        (
            TokenIssuer::new(key, settings()),
            TokenVerifier::new(&jwks, &settings()),
        )
    }

    /// A token with `header` and `claims` as given, signed (or not) as given.
    fn forge(header: &serde_json::Value, claims: &serde_json::Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[test]
    fn a_token_issued_verifies_with_its_claims_and_roles() {
        let (issuer, verifier) = issuer();
        let token = issuer.issue("alex", &[Role::Writer]).unwrap();
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(claims.sub, "alex");
        assert_eq!(claims.exp - claims.nbf, 3600);
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            ("movieapp", "movieapp")
        );
        assert!(claims.has(Role::Writer) && claims.has(Role::Reader) && !claims.has(Role::Admin));
        assert_eq!(claims.jti.len(), 32);
        let other = issuer.issue("alex", &[Role::Writer]).unwrap();
        assert_ne!(verifier.verify(&other).unwrap().jti, claims.jti);
    }

    #[test]
    fn every_kind_of_bad_token_is_refused_for_what_it_is() {
        let (issuer, verifier) = issuer();
        let now = jsonwebtoken::get_current_timestamp();
        let good = issuer.issue("alex", &[Role::Writer]).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();

        assert_eq!(verifier.verify("garbage"), Err(TokenError::Malformed));
        assert_eq!(verifier.verify(""), Err(TokenError::Malformed));
        // alg none, with and without a signature.
        let none = serde_json::json!({"alg": "none", "typ": "JWT", "kid": header["kid"]});
        assert_eq!(
            verifier.verify(&forge(&none, &claims, b"")),
            Err(TokenError::Algorithm("none".into()))
        );
        // HS256 "signed" with the public key as the secret (the classic confusion).
        let hs = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": header["kid"]});
        let public = URL_SAFE_NO_PAD.decode(issuer.key.jwk().x).unwrap();
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(hs.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public),
            signing_input.as_bytes(),
        );
        let hs_token = forge(&hs, &claims, mac.as_ref());
        assert_eq!(
            verifier.verify(&hs_token),
            Err(TokenError::Algorithm("HS256".into()))
        );
        // Tampered payload: the signature no longer matches.
        let mut admin = claims.clone();
        admin["roles"] = serde_json::json!(["admin"]);
        assert_eq!(
            verifier.verify(&forge(&header, &admin, &signature)),
            Err(TokenError::BadSignature)
        );
        // Unknown key id.
        let mut stranger = header.clone();
        stranger["kid"] = "someone-else".into();
        assert_eq!(
            verifier.verify(&forge(&stranger, &claims, &signature)),
            Err(TokenError::UnknownKey("someone-else".into()))
        );
        // Expired, not yet valid: properly signed, by the right key.
        let expired = issuer
            .issue_at("alex", &[], now - 7200, now - 3600)
            .unwrap();
        assert_eq!(verifier.verify(&expired), Err(TokenError::Expired));
        let early = issuer
            .issue_at("alex", &[], now + 3600, now + 7200)
            .unwrap();
        assert_eq!(verifier.verify(&early), Err(TokenError::NotYetValid));
        // Wrong issuer and audience: verifiers that expect others.
        let jwks = JwkSet {
            keys: vec![issuer.key.jwk()],
        };
        for (expects, refused) in [
            (
                TokenSettings {
                    issuer: "someone".into(),
                    ..settings()
                },
                TokenError::WrongIssuer,
            ),
            (
                TokenSettings {
                    audience: "another-app".into(),
                    ..settings()
                },
                TokenError::WrongAudience,
            ),
        ] {
            assert_eq!(
                TokenVerifier::new(&jwks, &expects).verify(&good),
                Err(refused)
            );
        }
        // Signed by another key that claims our key's id.
        let (impostor, _) = self::issuer();
        let mut forged_header = header.clone();
        forged_header["kid"] = header["kid"].clone();
        let theirs = impostor.issue("alex", &[Role::Admin]).unwrap();
        let their_sig = URL_SAFE_NO_PAD
            .decode(theirs.split('.').nth(2).unwrap())
            .unwrap();
        assert_eq!(
            verifier.verify(&forge(&forged_header, &claims, &their_sig)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn two_keys_at_once_both_verify() {
        let (old, _) = issuer();
        let (new, _) = issuer();
        let jwks = JwkSet {
            keys: vec![old.key.jwk(), new.key.jwk()],
        };
        let verifier = TokenVerifier::new(&jwks, &settings());
        for issuer in [&old, &new] {
            let token = issuer.issue("sam", &[Role::Reader]).unwrap();
            assert_eq!(verifier.verify(&token).unwrap().sub, "sam");
        }
    }
}
