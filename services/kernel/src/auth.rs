//! Node-signed bearer tokens naming a unit path, a role and an expiry.
//!
//! Format: `gk1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`. The key is
//! the node's own (a file in its data directory), so a token is valid only on
//! the node that issued it and on nodes an operator gives the same key.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;

use crate::unit::UnitPath;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "gk1";
const KEY_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Editor,
    Reviewer,
    Admin,
    Evaluator,
    DutyOfficer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Editor,
        Role::Reviewer,
        Role::Admin,
        Role::Evaluator,
        Role::DutyOfficer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Editor => "editor",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
            Role::Evaluator => "evaluator",
            Role::DutyOfficer => "duty_officer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}; one of editor, reviewer, admin, evaluator, duty_officer"
                )
            })
    }
}

/// Who is calling: a person (`sub`) acting for a unit in a role.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    pub sub: String,
    pub unit: UnitPath,
    pub role: Role,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

impl Claims {
    /// Acting (writing) is confined to the token's own unit.
    pub fn acts_for(&self, unit: &UnitPath) -> bool {
        &self.unit == unit
    }

    /// Reading: the own unit, and the subtree for a parent's admin or evaluator.
    pub fn may_read(&self, unit: &UnitPath) -> bool {
        self.acts_for(unit)
            || (matches!(self.role, Role::Admin | Role::Evaluator) && self.unit.contains(unit))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("authorization: missing bearer token")]
    Missing,
    #[error("authorization: malformed token")]
    Malformed,
    #[error("authorization: bad signature (token not issued by this node)")]
    BadSignature,
    #[error("authorization: token expired")]
    Expired,
}

/// The node's signing key.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(***)")
    }
}

impl TokenKey {
    pub fn generate() -> Self {
        let mut k = vec![0u8; KEY_BYTES];
        rand::thread_rng().fill_bytes(&mut k);
        Self(k)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Reads the key file, creating it (mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = B64.decode(text.trim()).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: not a base64url key: {e}", path.display()),
                    )
                })?;
                if bytes.len() < 16 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: key shorter than 16 bytes", path.display()),
                    ));
                }
                Ok(Self(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                write_private(path, &B64.encode(&key.0))?;
                Ok(key)
            }
            Err(e) => Err(e),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        HmacSha256::new_from_slice(&self.0).expect("hmac takes any key length")
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let body = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{PREFIX}.{body}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        format!("{signed}.{sig}")
    }

    pub fn verify(&self, token: &str, now_unix: i64) -> Result<Claims, AuthError> {
        let (signed, sig) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
        let (prefix, body) = signed.split_once('.').ok_or(AuthError::Malformed)?;
        if prefix != PREFIX {
            return Err(AuthError::Malformed);
        }
        let sig = B64.decode(sig).map_err(|_| AuthError::Malformed)?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        // verify_slice compares in constant time.
        mac.verify_slice(&sig)
            .map_err(|_| AuthError::BadSignature)?;
        let json = B64.decode(body).map_err(|_| AuthError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| AuthError::Malformed)?;
        if claims.exp <= now_unix {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }

    /// Claims of the bearer token in `metadata`, if any.
    pub fn authenticate(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<Claims, AuthError> {
        let value = metadata
            .get("authorization")
            .ok_or(AuthError::Missing)?
            .to_str()
            .map_err(|_| AuthError::Malformed)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?;
        self.verify(token.trim(), chrono::Utc::now().timestamp())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(unit: &str, role: Role, exp: i64) -> Claims {
        Claims {
            sub: "zhang".into(),
            unit: UnitPath::parse(unit).unwrap(),
            role,
            exp,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let k = TokenKey::generate();
        let c = claims("340823.edu", Role::Editor, 1_000);
        let t = k.issue(&c);
        assert_eq!(k.verify(&t, 999).unwrap(), c);
        assert_eq!(k.verify(&t, 1_000), Err(AuthError::Expired));
    }

    #[test]
    fn other_key_or_tampering_is_refused() {
        let k = TokenKey::generate();
        let t = k.issue(&claims("340823.edu", Role::Editor, i64::MAX));
        assert_eq!(
            TokenKey::generate().verify(&t, 0),
            Err(AuthError::BadSignature)
        );
        // Swap in claims for another role, keeping the signature.
        let forged_body =
            B64.encode(serde_json::to_vec(&claims("340823.edu", Role::Admin, i64::MAX)).unwrap());
        let sig = t.rsplit_once('.').unwrap().1;
        let forged = format!("gk1.{forged_body}.{sig}");
        assert_eq!(k.verify(&forged, 0), Err(AuthError::BadSignature));
        assert_eq!(k.verify("nonsense", 0), Err(AuthError::Malformed));
        assert_eq!(k.verify("gk2.a.b", 0), Err(AuthError::Malformed));
    }

    #[test]
    fn key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys/node.key");
        let a = TokenKey::load_or_create(&p).unwrap();
        let b = TokenKey::load_or_create(&p).unwrap();
        let t = a.issue(&claims("340823", Role::Admin, i64::MAX));
        assert!(b.verify(&t, 0).is_ok());
    }

    #[test]
    fn scope_rules() {
        let county_admin = claims("340823", Role::Admin, 0);
        let county_editor = claims("340823", Role::Editor, 0);
        let town = UnitPath::parse("340823.jishan").unwrap();
        let county = UnitPath::parse("340823").unwrap();
        assert!(county_admin.may_read(&town));
        assert!(!county_admin.acts_for(&town));
        assert!(!county_editor.may_read(&town));
        let town_admin = claims("340823.jishan", Role::Admin, 0);
        assert!(!town_admin.may_read(&county), "nobody reads a parent");
        assert!(!town_admin.may_read(&UnitPath::parse("340823.other").unwrap()));
    }

    #[test]
    fn roles_parse() {
        assert_eq!("duty_officer".parse::<Role>().unwrap(), Role::DutyOfficer);
        assert!("root".parse::<Role>().unwrap_err().contains("editor"));
    }
}
