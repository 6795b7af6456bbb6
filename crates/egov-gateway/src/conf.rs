//! What hub and gateways say to each other (pure): the federation's
//! configuration as the hub signs it, joining with a one-time token, and
//! the signed requests a gateway makes to its hub.
//!
//! The configuration is one JSON document, signed as it is (the payload
//! string), so both ends verify the very bytes that were signed. It lists
//! the members, the gateways (address, TLS certificate, message-signing
//! key, revoked or not) and the subsystems each serves: what a consumer
//! gateway needs to find, reach and trust a provider's gateway, and what
//! a provider gateway needs to know who connects.

use serde::{Deserialize, Serialize};

use crate::message::{self, GatewayKey, KeyError, Kind, TrustedKeys};

/// A member of the federation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfMember {
    pub id: String,
    pub name: String,
}

/// A gateway of the federation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfGateway {
    /// `INSTANCE/CLASS/MEMBER/GATEWAYCODE`.
    pub id: String,
    pub member: String,
    /// `https://host:port`, where its provider side listens (mutual TLS).
    pub address: String,
    pub tls_cert_pem: String,
    pub signing_key_id: String,
    pub signing_public_pem: String,
    /// A revoked gateway is refused by every other.
    pub revoked: bool,
}

/// A subsystem, and the gateway that serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfSubsystem {
    pub id: String,
    pub name: String,
    pub gateway: String,
}

/// A global group: members or subsystems an access right can name at
/// once, as `group:{instance}/{code}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfGroup {
    pub code: String,
    pub description: String,
    pub members: Vec<String>,
}

/// The prefix of an access right granted to a global group.
pub const GROUP_PREFIX: &str = "group:";

/// The federation's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalConf {
    pub instance: String,
    pub serial: i64,
    /// Epoch milliseconds.
    pub generated_at: i64,
    pub ca_cert_pem: String,
    pub members: Vec<ConfMember>,
    pub gateways: Vec<ConfGateway>,
    pub subsystems: Vec<ConfSubsystem>,
    #[serde(default)]
    pub groups: Vec<ConfGroup>,
}

impl GlobalConf {
    /// The access-right names of the global groups `client` (or its
    /// member) belongs to: `group:{instance}/{code}`.
    pub fn groups_of(&self, client: &str, member: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|group| group.members.iter().any(|id| id == client || id == member))
            .map(|group| format!("{GROUP_PREFIX}{}/{}", self.instance, group.code))
            .collect()
    }

    pub fn gateway(&self, id: &str) -> Option<&ConfGateway> {
        self.gateways.iter().find(|gateway| gateway.id == id)
    }

    /// The gateway that serves a subsystem.
    pub fn gateway_of(&self, subsystem: &str) -> Option<&ConfGateway> {
        let entry = self.subsystems.iter().find(|entry| entry.id == subsystem)?;
        self.gateway(&entry.gateway)
    }

    /// The message-signing keys of every gateway that is not revoked.
    pub fn trusted_keys(&self) -> Result<TrustedKeys, KeyError> {
        let mut keys = TrustedKeys::default();
        for gateway in self.gateways.iter().filter(|gateway| !gateway.revoked) {
            keys.insert_pem(&gateway.signing_key_id, &gateway.signing_public_pem)?;
        }
        Ok(keys)
    }
}

/// The configuration as served: the payload, exactly as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedConf {
    pub payload: String,
    pub key_id: String,
    pub signature: String,
}

/// Why a configuration was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("the configuration's signature does not hold: {0}")]
    Signature(#[from] KeyError),
    #[error("the configuration is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the configuration is for the instance {found}, not {expected}")]
    Instance { expected: String, found: String },
    #[error("the configuration #{found} is older than the one held (#{held})")]
    Rollback { held: i64, found: i64 },
}

impl SignedConf {
    pub fn sign(conf: &GlobalConf, key: &GatewayKey) -> Result<SignedConf, serde_json::Error> {
        let payload = serde_json::to_string(conf)?;
        let signature = key.sign(Kind::Configuration, &message::document_hash(payload.as_bytes()));
        Ok(SignedConf {
            payload,
            key_id: key.key_id.clone(),
            signature,
        })
    }

    /// Verifies the signature with the anchor, then reads the payload and
    /// checks it is this federation's and not older than `held_serial`.
    pub fn open(
        &self,
        anchor: &TrustedKeys,
        instance: &str,
        held_serial: Option<i64>,
    ) -> Result<GlobalConf, ConfError> {
        anchor.verify(
            &self.key_id,
            Kind::Configuration,
            &message::document_hash(self.payload.as_bytes()),
            &self.signature,
        )?;
        let conf: GlobalConf = serde_json::from_str(&self.payload)?;
        if conf.instance != instance {
            return Err(ConfError::Instance {
                expected: instance.to_owned(),
                found: conf.instance,
            });
        }
        if let Some(held) = held_serial
            && conf.serial < held
        {
            return Err(ConfError::Rollback {
                held,
                found: conf.serial,
            });
        }
        Ok(conf)
    }
}

/// A gateway asks to join with its one-time token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub token: String,
    /// Where its provider side will listen: `https://host:port`.
    pub address: String,
    /// Its TLS key's public part: the raw P-256 point, base64.
    pub tls_public_key: String,
    pub signing_key_id: String,
    pub signing_public_pem: String,
}

/// The hub's answer, authenticated by an HMAC keyed with the token (the
/// `X-Egov-Hub-Mac` header): only the hub that issued the token can make it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinResponse {
    pub instance: String,
    pub gateway_id: String,
    pub tls_cert_pem: String,
    pub ca_cert_pem: String,
    pub anchor_key_id: String,
    pub anchor_public_pem: String,
}

/// The header that carries the join answer's HMAC.
pub const HUB_MAC_HEADER: &str = "x-egov-hub-mac";
/// The header that carries a gateway's signature on a request to its hub:
/// `key_id:base64`.
pub const GATEWAY_SIGNATURE_HEADER: &str = "x-egov-gateway-signature";

/// A gateway tells its hub which subsystems it serves (signed with its
/// message-signing key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubsystemsRequest {
    pub gateway_id: String,
    pub subsystems: Vec<NamedSubsystem>,
    /// Epoch milliseconds; the hub refuses a request more than five
    /// minutes off its clock, so a captured one cannot be replayed later.
    pub at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedSubsystem {
    pub id: String,
    pub name: String,
}

/// A time-stamp: the hub's signature over a hash and the time it saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampToken {
    /// The hash stamped (a message log record's hash, hex).
    pub hash: String,
    /// Epoch milliseconds, by the hub's clock.
    pub time: i64,
    pub key_id: String,
    pub signature: String,
}

impl TimestampToken {
    fn signed_hash(hash: &str, time: i64) -> [u8; 64] {
        message::document_hash(format!("{hash}\n{time}").as_bytes())
    }

    pub fn sign(hash: &str, time: i64, key: &GatewayKey) -> TimestampToken {
        TimestampToken {
            hash: hash.to_owned(),
            time,
            key_id: key.key_id.clone(),
            signature: key.sign(Kind::Timestamp, &TimestampToken::signed_hash(hash, time)),
        }
    }

    pub fn verify(&self, anchor: &TrustedKeys) -> Result<(), KeyError> {
        anchor.verify(
            &self.key_id,
            Kind::Timestamp,
            &TimestampToken::signed_hash(&self.hash, self.time),
            &self.signature,
        )
    }
}

/// HMAC-SHA256 of a join answer, keyed with the token (base64).
pub fn join_mac(token: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    // HMAC takes a key of any length.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a join answer's HMAC in constant time.
pub fn check_join_mac(token: &str, body: &[u8], mac: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    join_mac(token, body).as_bytes().ct_eq(mac.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(serial: i64) -> GlobalConf {
        GlobalConf {
            instance: "VN".to_owned(),
            serial,
            generated_at: 0,
            ca_cert_pem: String::new(),
            members: Vec::new(),
            gateways: Vec::new(),
            subsystems: Vec::new(),
            groups: Vec::new(),
        }
    }

    #[test]
    fn a_configuration_opens_only_with_the_anchor_for_its_instance_and_never_goes_back() {
        let hub = GatewayKey::generate("hub".to_owned());
        let mut anchor = TrustedKeys::default();
        anchor.insert("hub", hub.verifying_key());
        let signed = SignedConf::sign(&conf(7), &hub).expect("sign");
        assert_eq!(signed.open(&anchor, "VN", Some(7)).expect("open").serial, 7);
        assert!(matches!(
            signed.open(&anchor, "VN", Some(8)),
            Err(ConfError::Rollback { .. })
        ));
        assert!(matches!(
            signed.open(&anchor, "LA", None),
            Err(ConfError::Instance { .. })
        ));
        let mut forged = signed.clone();
        forged.payload = forged.payload.replace("\"serial\":7", "\"serial\":9");
        assert!(matches!(forged.open(&anchor, "VN", None), Err(ConfError::Signature(_))));
        let other = GatewayKey::generate("hub".to_owned());
        let mut wrong = TrustedKeys::default();
        wrong.insert("hub", other.verifying_key());
        assert!(matches!(signed.open(&wrong, "VN", None), Err(ConfError::Signature(_))));
    }

    #[test]
    fn a_timestamp_holds_only_for_its_hash_and_time() {
        let hub = GatewayKey::generate("hub".to_owned());
        let mut anchor = TrustedKeys::default();
        anchor.insert("hub", hub.verifying_key());
        let token = TimestampToken::sign("ab12", 1_000, &hub);
        assert!(token.verify(&anchor).is_ok());
        assert!(
            TimestampToken {
                time: 1_001,
                ..token.clone()
            }
            .verify(&anchor)
            .is_err()
        );
        assert!(
            TimestampToken {
                hash: "ab13".to_owned(),
                ..token
            }
            .verify(&anchor)
            .is_err()
        );
    }

    #[test]
    fn the_join_answer_is_authenticated_by_the_token() {
        let mac = join_mac("token-1", b"{}");
        assert!(check_join_mac("token-1", b"{}", &mac));
        assert!(!check_join_mac("token-2", b"{}", &mac));
        assert!(!check_join_mac("token-1", b"{ }", &mac));
    }
}
