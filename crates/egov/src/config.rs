//! Settings, layered: defaults, then the TOML file, then `EGOV__SECTION__KEY`
//! environment variables. Unknown keys and wrong types stop the start with a
//! message naming the key. Secrets are wrapped so they never print.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A value that must never be printed or logged.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"[redacted]\"" })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub security: SecuritySettings,
    pub log: LogSettings,
    pub jobs: JobSettings,
    pub mail: MailSettings,
    pub payments: PaymentSettings,
    #[serde(default)]
    pub federation: FederationSettings,
    #[serde(default)]
    pub gateway: GatewaySettings,
    pub onestop: OnestopSettings,
}

/// The gateway's own settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Message-log records older than this many days are removed once an
    /// exported archive holds them (`egov gateway export-log`); 0 keeps
    /// them all.
    pub log_retention_days: u32,
}

/// The gateway's part in a federation (after `egov gateway join`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSettings {
    /// Where the gateway's provider side listens for other gateways, with
    /// mutual TLS: the address given to `egov gateway join`. Unset: this
    /// gateway only calls others.
    pub listen: Option<SocketAddr>,
    /// How often a node pushes its subsystems to the hub and downloads the
    /// federation's configuration.
    pub refresh_secs: u64,
    /// How long the gateway works on its last configuration when the hub
    /// cannot be reached; then it refuses calls to other gateways.
    pub configuration_max_age_secs: u64,
    /// How long a logged exchange may wait for the hub's time-stamp; then
    /// the gateway refuses new calls until the hub stamps its log again.
    pub timestamp_limit_secs: u64,
}

impl Default for FederationSettings {
    fn default() -> Self {
        FederationSettings {
            listen: None,
            refresh_secs: 60,
            configuration_max_age_secs: 600,
            timestamp_limit_secs: 1800,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// The URL users reach the instance at; `https://` turns on HSTS and
    /// Secure cookies.
    pub public_url: String,
    pub request_timeout_secs: u64,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path` or `postgres://user:password@host/db`. Secret: it may
    /// hold a password.
    pub url: Secret,
    pub max_connections: u32,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Signs CSRF tokens and, later, sessions: at least 32 characters.
    pub secret_key: Secret,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `egov=debug,info`.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// Whether this node runs background jobs.
    pub enabled: bool,
    pub poll_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// The SMTP server: `smtp://host:25`, `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://user:password@host` (implicit TLS). Secret: it
    /// may hold a password. Empty: mail waits in the queue (and `egov demo`
    /// uses its own mailbox).
    pub smtp_url: Secret,
    /// The sender, `Name <address>`.
    pub from: String,
}

/// How fees are paid. Without a gateway and a bank account, dossiers show
/// their fee but cannot be paid online.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentSettings {
    /// Serve a local simulator of the payment gateway at `/vnpay/` and pay
    /// through it (the demo does; never in production).
    pub simulator: bool,
    /// The gateway's payment page (VNPAY 2.1.0 protocol), e.g.
    /// `https://sandbox.vnpayment.vn/paymentv2/vpcpay.html`.
    pub gateway_endpoint: String,
    /// The gateway's merchant API, where refunds are posted, e.g.
    /// `https://sandbox.vnpayment.vn/merchant_webapi/api/transaction`;
    /// required with `gateway_endpoint`.
    pub gateway_api_endpoint: String,
    /// The merchant's terminal code at the gateway (`vnp_TmnCode`).
    pub gateway_terminal_code: String,
    /// The merchant's hash secret for HMAC-SHA512 signatures.
    pub gateway_hash_secret: Secret,
    /// The agency account VietQR transfers go to: the bank's 6-digit BIN,
    /// the account number and the account holder's name.
    pub bank_bin: String,
    pub bank_account_number: String,
    pub bank_account_name: String,
    /// The secret the bank signs transfer notifications with (HMAC-SHA256).
    pub bank_notification_secret: Secret,
}

/// How the one-stop shop reaches the base registries: through the gateway,
/// as its own subsystem.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnestopSettings {
    /// The one-stop shop's subsystem at the gateway
    /// (`INSTANCE/CLASS/MEMBER/SUBSYSTEM`): the `X-Road-Client` of its
    /// registry reads. Empty: forms offer no prefill.
    pub gateway_client: String,
    /// The population registry's reading service
    /// (`INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`). Empty: forms offer no
    /// prefill.
    pub population_service: String,
    /// The national public service portal's service that takes dossier
    /// status reports (`INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`, at the
    /// federation's hub). Empty: no reports.
    pub national_service: String,
}

impl Default for OnestopSettings {
    /// The demo's subsystems.
    fn default() -> Self {
        OnestopSettings {
            gateway_client: crate::demo::DEMO_ONESTOP_CLIENT.to_owned(),
            population_service: crate::demo::DEMO_POPULATION_SERVICE.to_owned(),
            national_service: String::new(),
        }
    }
}

impl OnestopSettings {
    /// The one-stop shop's subsystem at the gateway.
    fn client(&self) -> Result<egov_gateway::id::ClientId, ConfigError> {
        egov_gateway::id::ClientId::parse(self.gateway_client.trim())
            .ok()
            .filter(|client| client.subsystem.is_some())
            .ok_or_else(|| ConfigError::Invalid {
                key: "onestop.gateway_client",
                message: "must be a subsystem: INSTANCE/CLASS/MEMBER/SUBSYSTEM".to_owned(),
            })
    }

    /// The client and the service, when prefill is on; errors name the key.
    pub fn population(&self) -> Result<Option<(egov_gateway::id::ClientId, egov_gateway::id::ServiceId)>, ConfigError> {
        if self.gateway_client.trim().is_empty() || self.population_service.trim().is_empty() {
            return Ok(None);
        }
        let client = self.client()?;
        let service =
            egov_gateway::id::ServiceId::parse(self.population_service.trim()).map_err(|_| ConfigError::Invalid {
                key: "onestop.population_service",
                message: "must be a service: INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE".to_owned(),
            })?;
        Ok(Some((client, service)))
    }

    /// The client and the national portal's service, when status reports are on.
    pub fn national(&self) -> Result<Option<(egov_gateway::id::ClientId, egov_gateway::id::ServiceId)>, ConfigError> {
        if self.national_service.trim().is_empty() {
            return Ok(None);
        }
        let client = self.client()?;
        let service =
            egov_gateway::id::ServiceId::parse(self.national_service.trim()).map_err(|_| ConfigError::Invalid {
                key: "onestop.national_service",
                message: "must be a service: INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE".to_owned(),
            })?;
        Ok(Some((client, service)))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: ServerSettings {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                public_url: "http://localhost:8080".to_owned(),
                request_timeout_secs: 30,
                max_body_bytes: 10 * 1024 * 1024,
            },
            database: DatabaseSettings {
                url: Secret::new("sqlite://egov-data/egov.db"),
                max_connections: 16,
                migrate_on_start: true,
            },
            security: SecuritySettings {
                secret_key: Secret::default(),
            },
            log: LogSettings {
                format: LogFormat::Pretty,
                level: "info".to_owned(),
            },
            jobs: JobSettings {
                enabled: true,
                poll_interval_ms: 500,
            },
            mail: MailSettings {
                smtp_url: Secret::default(),
                from: "Cổng dịch vụ công <no-reply@localhost>".to_owned(),
            },
            payments: PaymentSettings::default(),
            federation: FederationSettings::default(),
            gateway: GatewaySettings::default(),
            onestop: OnestopSettings::default(),
        }
    }
}

/// A setting that is present but wrong; names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    #[error("configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
}

impl Settings {
    /// Layers defaults, the file (if given) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::MissingFile(file.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        Self::from_figment(&figment.merge(Env::prefixed("EGOV__").split("__").lowercase(true)))
    }

    fn from_figment(figment: &Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = figment.extract().map_err(|error| ConfigError::Load(Box::new(error)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if egov_db::Engine::from_url(self.database.url.expose()).is_err() {
            return invalid("database.url", "unsupported scheme: use sqlite:// or postgres://");
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be at least 1");
        }
        if !(self.server.public_url.starts_with("http://") || self.server.public_url.starts_with("https://")) {
            return invalid("server.public_url", "must start with http:// or https://");
        }
        if self.server.request_timeout_secs == 0 {
            return invalid("server.request_timeout_secs", "must be at least 1");
        }
        if self.server.max_body_bytes < 1024 {
            return invalid("server.max_body_bytes", "must be at least 1024");
        }
        if !(5..=3600).contains(&self.federation.refresh_secs) {
            return invalid("federation.refresh_secs", "must be 5 to 3600");
        }
        if self.federation.configuration_max_age_secs <= self.federation.refresh_secs {
            return invalid(
                "federation.configuration_max_age_secs",
                "must be longer than federation.refresh_secs",
            );
        }
        if self.federation.timestamp_limit_secs <= self.federation.refresh_secs {
            return invalid(
                "federation.timestamp_limit_secs",
                "must be longer than federation.refresh_secs",
            );
        }
        let smtp_url = self.mail.smtp_url.expose();
        if !(smtp_url.is_empty() || smtp_url.starts_with("smtp://") || smtp_url.starts_with("smtps://")) {
            return invalid("mail.smtp_url", "must start with smtp:// or smtps://");
        }
        if egov_mail::parse_mailbox(&self.mail.from).is_err() {
            return invalid("mail.from", "is not an e-mail address (`Name <address>` or `address`)");
        }
        let payments = &self.payments;
        let api_is_web_url = ["https://", "http://"]
            .iter()
            .any(|scheme| payments.gateway_api_endpoint.starts_with(scheme));
        if !payments.gateway_endpoint.is_empty() && !api_is_web_url {
            return invalid(
                "payments.gateway_api_endpoint",
                "is required with payments.gateway_endpoint (refunds go through it) and must be an http(s) URL",
            );
        }
        self.onestop.population()?;
        if self.log.level.parse::<tracing_subscriber::EnvFilter>().is_err() {
            return invalid("log.level", "is not a valid tracing filter");
        }
        Ok(())
    }

    /// The secret key, required for serving.
    pub fn require_secret_key(&self) -> Result<&str, ConfigError> {
        let key = self.security.secret_key.expose();
        if key.chars().count() < 32 {
            return Err(ConfigError::Invalid {
                key: "security.secret_key",
                message: "is required and must be at least 32 characters (generate one with `openssl rand -base64 48`)"
                    .to_owned(),
            });
        }
        Ok(key)
    }

    pub fn https(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Toml;

    fn load_toml(text: &str) -> Result<Settings, ConfigError> {
        Settings::from_figment(&Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(text)))
    }

    #[test]
    fn an_unknown_key_is_named() {
        let error = load_toml("[server]\nlisten_on = \"1.2.3.4:5\"\n")
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("listen_on"), "{error}");
    }

    #[test]
    fn a_wrong_type_is_named() {
        let error = load_toml("[database]\nmax_connections = \"many\"\n")
            .expect_err("wrong type")
            .to_string();
        assert!(error.contains("database.max_connections"), "{error}");
    }

    #[test]
    fn a_gateway_needs_its_merchant_api_for_refunds() {
        let gateway = "[payments]\ngateway_endpoint = \"https://sandbox.vnpayment.vn/paymentv2/vpcpay.html\"\n";
        let error = load_toml(gateway).expect_err("no API endpoint").to_string();
        assert!(error.contains("payments.gateway_api_endpoint"), "{error}");
        let with_api = format!(
            "{gateway}gateway_api_endpoint = \"https://sandbox.vnpayment.vn/merchant_webapi/api/transaction\"\n"
        );
        assert!(load_toml(&with_api).is_ok());
    }

    #[test]
    fn the_one_stop_shops_registry_reads_default_to_the_demos_and_can_be_turned_off() {
        let settings = load_toml("").expect("defaults");
        let (client, service) = settings.onestop.population().expect("valid").expect("on by default");
        assert_eq!(client.to_string(), crate::demo::DEMO_ONESTOP_CLIENT);
        assert_eq!(service.to_string(), crate::demo::DEMO_POPULATION_SERVICE);
        let off = load_toml("[onestop]\ngateway_client = \"\"\n").expect("valid");
        assert!(off.onestop.population().expect("valid").is_none());
        let error = load_toml("[onestop]\ngateway_client = \"VN/GOV/000.00.00.H24\"\n")
            .expect_err("a member is no subsystem")
            .to_string();
        assert!(error.contains("onestop.gateway_client"), "{error}");
        let error = load_toml("[onestop]\npopulation_service = \"VN/GOV/000.05.00.H24/registry\"\n")
            .expect_err("no service code")
            .to_string();
        assert!(error.contains("onestop.population_service"), "{error}");
    }

    #[test]
    fn an_unsupported_scheme_is_named() {
        let error = load_toml("[database]\nurl = \"mysql://db\"\n")
            .expect_err("bad scheme")
            .to_string();
        assert!(
            error.contains("database.url") && error.contains("unsupported scheme"),
            "{error}"
        );
    }

    #[test]
    fn secrets_never_print() {
        let settings = load_toml("[database]\nurl = \"postgres://u:hunter2@h/db\"\n[security]\nsecret_key = \"sssssssssssssssssssssssssssssssssssss\"\n")
            .expect("valid");
        let printed = format!("{settings:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("ssssssss"),
            "{printed}"
        );
    }

    #[test]
    fn a_short_secret_key_is_refused_for_serving() {
        let settings = load_toml("[security]\nsecret_key = \"short\"\n").expect("loads");
        let error = settings.require_secret_key().expect_err("too short").to_string();
        assert!(error.contains("security.secret_key"), "{error}");
    }
}
