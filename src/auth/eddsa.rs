//! The cryptography `jsonwebtoken` signs and verifies with: Ed25519 only, on `ring` (which
//! rustls already brings). jsonwebtoken's own backends compile every JWT algorithm, RSA among
//! them (RUSTSEC-2023-0071); movieapp signs and accepts EdDSA alone, so it needs none of them.
//!
//! [`install`] must run before jsonwebtoken signs or verifies anything: `token` calls it on
//! each path that does, so no other order can reach jsonwebtoken's placeholder provider.

use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, EncodingKey,
    crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier},
    errors::{Error, ErrorKind},
    jwk::{EllipticCurve, ThumbprintHash},
    signature,
};
use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};

/// EdDSA with `ring`; every other algorithm is refused as invalid.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components: no_rsa_key,
        extract_ec_public_key_coordinates: no_ec_key,
        compute_digest: digest,
    },
};

/// Makes [`PROVIDER`] jsonwebtoken's, once per process; later calls cost an atomic load.
pub(super) fn install() {
    // Err means it is installed already: by an earlier call, as nothing else installs one.
    let _ = PROVIDER.install_default();
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if *algorithm != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if key.family() != AlgorithmFamily::Ed {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.inner())
        .map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(Box::new(Signer(pair)))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if *algorithm != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if key.family() != AlgorithmFamily::Ed {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let public = key.as_bytes();
    if public.len() != 32 {
        return Err(ErrorKind::InvalidEddsaKey.into());
    }
    Ok(Box::new(Verifier(public.to_vec())))
}

fn no_rsa_key(_: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    Err(ErrorKind::InvalidRsaKey("movieapp uses Ed25519 keys only".to_owned()).into())
}

fn no_ec_key(_: &[u8], _: Algorithm) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>), Error> {
    Err(ErrorKind::InvalidEcdsaKey.into())
}

fn digest(data: &[u8], hash: ThumbprintHash) -> Vec<u8> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
    };
    ring::digest::digest(algorithm, data).as_ref().to_vec()
}

struct Signer(Ed25519KeyPair);

impl signature::Signer<Vec<u8>> for Signer {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(message).as_ref().to_vec())
    }
}

impl JwtSigner for Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

/// A 32-byte Ed25519 public key.
struct Verifier(Vec<u8>);

impl signature::Verifier<Vec<u8>> for Verifier {
    fn verify(&self, message: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_ed25519_and_refuses_every_other_algorithm() {
        install();
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let encoding = EncodingKey::from_ed_der(pkcs8.as_ref());
        let decoding =
            DecodingKey::from_ed_der(ring::signature::KeyPair::public_key(&pair).as_ref());

        let signed = jsonwebtoken::crypto::sign(b"a.b", &encoding, Algorithm::EdDSA).unwrap();
        assert!(
            jsonwebtoken::crypto::verify(&signed, b"a.b", &decoding, Algorithm::EdDSA).unwrap()
        );
        assert!(
            !jsonwebtoken::crypto::verify(&signed, b"a.c", &decoding, Algorithm::EdDSA).unwrap()
        );

        for other in [
            Algorithm::HS256,
            Algorithm::RS256,
            Algorithm::PS512,
            Algorithm::ES256,
        ] {
            let secret = EncodingKey::from_secret(b"public key as secret");
            let err = jsonwebtoken::crypto::sign(b"a.b", &secret, other).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidAlgorithm, "{other:?}");
            let err = jsonwebtoken::crypto::verify(&signed, b"a.b", &decoding, other).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidAlgorithm, "{other:?}");
        }
        // An HMAC key offered for EdDSA is not an Ed25519 key.
        let secret = EncodingKey::from_secret(b"x");
        let err = jsonwebtoken::crypto::sign(b"a.b", &secret, Algorithm::EdDSA).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidKeyFormat);
    }
}
