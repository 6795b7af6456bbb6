//! Composition: every subsystem's routes inside the web shell, and the
//! OpenAPI description they add up to.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use egov_core::calendar::HolidayCalendar;
use egov_core::clock::{Clock, SystemClock};
use egov_db::Db;
use egov_id::password::PasswordHasher;
use egov_id::{IdConfig, Provider};
use egov_onestop::Catalogue;
use egov_onestop::dossier::payment::{BankAccount, PaymentSettings};
use egov_payments::gateway::{GatewayConfig, HashSecret};
use egov_portal::{Portal, PortalConfig, Transport};
use egov_web::{Metrics, ShellConfig, ShellState};
use utoipa::OpenApi as _;

/// What the composed app needs.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub secret_key: Vec<u8>,
    pub https: bool,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub clock: Arc<dyn Clock>,
    pub calendar: Arc<HolidayCalendar>,
    /// The instance's public URL: the OpenID issuer.
    pub public_url: String,
    pub hasher: PasswordHasher,
    /// The demo's own mailbox, shown at `/demo/mailbox`.
    pub mailbox: Option<egov_mail::MailSink>,
    pub payments: PaymentSetup,
    /// How long the gateway works on its last federation configuration.
    pub configuration_max_age: Duration,
    /// How long a logged exchange may wait for the hub's time-stamp.
    pub timestamp_limit: Duration,
    /// The node's one gateway, made at first use and shared by every part
    /// of the node (the routes, the workers, the provider side's listener):
    /// one message-log writer and one set of counters per node.
    pub gateway: Arc<std::sync::OnceLock<egov_gateway::Gateway>>,
    /// How the one-stop shop reads the population registry through the
    /// gateway; none: its forms offer no prefill.
    pub population: Option<PopulationSetup>,
    /// Where the one-stop shop reports dossier statuses (the national
    /// portal's service at the hub, through the gateway); none: it does not.
    pub national: Option<PopulationSetup>,
}

/// The one-stop shop's subsystem and the population registry's reading
/// service it calls through the gateway.
#[derive(Debug, Clone)]
pub struct PopulationSetup {
    pub client: egov_gateway::id::ClientId,
    pub service: egov_gateway::id::ServiceId,
}

impl PopulationSetup {
    /// The demo's subsystems.
    pub fn demo() -> Option<PopulationSetup> {
        Some(PopulationSetup {
            client: egov_gateway::id::ClientId::parse(crate::demo::DEMO_ONESTOP_CLIENT).ok()?,
            service: egov_gateway::id::ServiceId::parse(crate::demo::DEMO_POPULATION_SERVICE).ok()?,
        })
    }
}

/// How fees are paid on this instance.
#[derive(Debug, Clone, Default)]
pub struct PaymentSetup {
    /// Serve the payment-gateway simulator at `/vnpay/` and pay through it.
    pub simulator: bool,
    /// A real gateway.
    pub gateway: Option<GatewaySetup>,
    pub bank: Option<BankAccount>,
    pub bank_notification_secret: Option<Vec<u8>>,
}

/// What a real payment gateway issued to this instance.
#[derive(Debug, Clone)]
pub struct GatewaySetup {
    pub terminal_code: String,
    /// Never printed.
    pub hash_secret: HashSecret,
    /// The payment page the payer is sent to.
    pub payment_endpoint: String,
    /// The merchant API refunds are posted to.
    pub api_endpoint: String,
}

impl PaymentSetup {
    /// The demo's: the simulator, and a made-up account of the demo commune.
    pub fn demo(bank_notification_secret: Vec<u8>) -> PaymentSetup {
        PaymentSetup {
            simulator: true,
            gateway: None,
            bank: Some(BankAccount {
                bin: "970415".to_owned(),
                account_number: "113000012345".to_owned(),
                account_name: "UBND PHUONG KINH BAC".to_owned(),
            }),
            bank_notification_secret: Some(bank_notification_secret),
        }
    }
}

impl AppConfig {
    /// Settings for tests and tools: a fixed key, plain HTTP.
    pub fn for_tests() -> AppConfig {
        AppConfig {
            secret_key: b"test-secret-key-that-is-long-enough-0123456789".to_vec(),
            https: false,
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 10 * 1024 * 1024,
            clock: Arc::new(SystemClock),
            calendar: Arc::new(HolidayCalendar::embedded()),
            public_url: "http://localhost".to_owned(),
            // Cheap parameters keep tests fast; production uses the OWASP ones.
            hasher: PasswordHasher::with_params(1024, 1, 1, 2),
            mailbox: None,
            payments: PaymentSetup::demo(b"test-bank-notification-secret".to_vec()),
            configuration_max_age: egov_gateway::gateway::DEFAULT_CONF_MAX_AGE,
            timestamp_limit: egov_gateway::gateway::DEFAULT_TIMESTAMP_LIMIT,
            gateway: Arc::default(),
            population: PopulationSetup::demo(),
            national: None,
        }
    }
}

/// The OpenAPI description of every JSON API of the instance.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut openapi = egov_onestop::CatalogueApi::openapi();
    openapi.merge(egov_onestop::dossier::api::DossierApi::openapi());
    openapi.merge(egov_onestop::dossier::govstack::GovStackApi::openapi());
    openapi.merge(egov_id::manage_http::AdminApi::openapi());
    openapi.merge(egov_registry::DataUsageApi::openapi());
    "egov".clone_into(&mut openapi.info.title);
    env!("CARGO_PKG_VERSION").clone_into(&mut openapi.info.version);
    openapi.info.description = Some(
        "JSON API of an egov instance. Errors are `{\"code\", \"message\"}` with a stable snake_case code; \
         the message follows `?lang=vi|en` (Vietnamese by default)."
            .to_owned(),
    );
    openapi
}

/// The sign-in service of this node.
pub fn provider(db: &Db, config: &AppConfig) -> Provider {
    Provider::new(
        db.clone(),
        Arc::clone(&config.clock),
        config.hasher.clone(),
        IdConfig::new(&config.public_url),
    )
}

/// What must exist before a node serves: the sign-in service's keys and
/// built-in clients.
pub async fn prepare(db: &Db, config: &AppConfig) -> Result<(), egov_id::provider::IdError> {
    let provider = provider(db, config);
    provider.ensure_keys().await?;
    egov_id::store::backfill_search_names(db).await?;
    provider.ensure_builtin_clients().await?;
    let portal = portal_config(config);
    provider
        .ensure_portal_client(&portal.client_id, &portal.public_url, &portal.client_secret)
        .await
}

/// The portal of this instance, an OIDC client of its sign-in service.
fn portal_config(config: &AppConfig) -> PortalConfig {
    PortalConfig::same_instance(&config.public_url, &config.secret_key, config.https)
}

/// The dossier service of this node.
pub fn dossiers(db: &Db, config: &AppConfig) -> egov_onestop::dossier::Dossiers {
    let catalogue = Catalogue::new(db.clone(), Arc::clone(&config.clock), Arc::clone(&config.calendar));
    dossiers_with(db.clone(), config, catalogue, payments(config).0)
}

fn dossiers_with(
    db: Db,
    config: &AppConfig,
    catalogue: Catalogue,
    payments: PaymentSettings,
) -> egov_onestop::dossier::Dossiers {
    egov_onestop::dossier::Dossiers::new(db, Arc::clone(&config.clock), Arc::clone(&config.calendar), catalogue)
        .with_payments(payments)
        .with_public_url(&config.public_url)
        .with_prefill_key(egov_portal::derived_secret_for(&config.secret_key, b"egov onestop prefill marks").as_bytes())
        .with_status_sync(config.national.is_some())
}

/// Reports a dossier's status (the job `onestop.status_sync`) to the
/// national portal's service through the gateway, with one message id per
/// dossier revision; an error makes the queue try again later.
pub async fn report_status(
    gateway: &egov_gateway::Gateway,
    national: &PopulationSetup,
    payload: &str,
) -> Result<(), String> {
    let report: serde_json::Value = serde_json::from_str(payload).map_err(|error| error.to_string())?;
    let message_id = format!(
        "status:{}:{}",
        report["code"].as_str().unwrap_or_default(),
        report["revision"].as_i64().unwrap_or_default()
    );
    let mut headers = axum::http::HeaderMap::new();
    let value = |text: &str| axum::http::HeaderValue::try_from(text).map_err(|error| error.to_string());
    headers.insert("x-road-client", value(&national.client.to_string())?);
    headers.insert("x-road-id", value(&message_id)?);
    headers.insert("content-type", value("application/json")?);
    let response = gateway
        .call(egov_gateway::Call {
            method: axum::http::Method::POST,
            target: format!("/r1/{}/dossiers", national.service),
            headers,
            body: payload.as_bytes().to_vec(),
            caller: egov_gateway::Caller::InProcess,
        })
        .await;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the national portal answered {}", response.status()))
    }
}

/// The terminal code the simulated gateway knows this instance by.
const SIMULATED_TERMINAL: &str = "EGOVDEMO";

/// The payment settings of the dossier service, and the simulator's routes
/// when the instance plays the gateway itself.
fn payments(config: &AppConfig) -> (PaymentSettings, Option<Router>) {
    let setup = &config.payments;
    let return_url = format!("{}/portal/payments/return", config.public_url);
    let mut simulator = None;
    let gateway = if setup.simulator {
        let secret = egov_portal::derived_secret_for(&config.secret_key, b"egov payment simulator");
        let ipn_url = format!("{}/api/v1/payments/vnpay/ipn", config.public_url);
        let client = reqwest::Client::new();
        let ipn_caller: egov_payments::simulator::IpnCaller = Arc::new(move |url: String| {
            let client = client.clone();
            Box::pin(async move {
                let response = client.get(url).send().await.map_err(|error| error.to_string())?;
                response.text().await.map_err(|error| error.to_string())
            })
        });
        simulator = Some(egov_payments::simulator::router(
            egov_payments::simulator::SimulatorConfig {
                terminal_code: SIMULATED_TERMINAL.to_owned(),
                hash_secret: HashSecret::new(secret.clone()),
                ipn_url,
                ipn_caller,
            },
        ));
        Some(GatewayConfig {
            terminal_code: SIMULATED_TERMINAL.to_owned(),
            hash_secret: HashSecret::new(secret),
            payment_endpoint: format!("{}/vnpay/pay", config.public_url),
            return_url,
            api_endpoint: format!("{}{}", config.public_url, egov_payments::simulator::MERCHANT_API_PATH),
        })
    } else {
        setup.gateway.as_ref().map(|gateway| GatewayConfig {
            terminal_code: gateway.terminal_code.clone(),
            hash_secret: gateway.hash_secret.clone(),
            payment_endpoint: gateway.payment_endpoint.clone(),
            return_url,
            api_endpoint: gateway.api_endpoint.clone(),
        })
    };
    // Refunds go through the gateway's API; without a client (the TLS
    // backend failed to load) they are refused with a message, and payments
    // still work.
    let merchant_api = gateway.as_ref().and_then(|_| {
        egov_payments::gateway::MerchantApiClient::new()
            .inspect_err(|error| tracing::error!(%error, "The payment gateway's API client cannot be set up"))
            .ok()
    });
    let settings = PaymentSettings {
        gateway,
        merchant_api,
        bank: setup.bank.clone(),
        bank_notification_secret: setup.bank_notification_secret.clone(),
    };
    (settings, simulator)
}

/// The gateway of this node, with the services of this instance it can
/// call in-process (made once per node, see [`AppConfig::gateway`]).
pub fn gateway(db: &Db, config: &AppConfig) -> egov_gateway::Gateway {
    config
        .gateway
        .get_or_init(|| {
            let mut local = egov_gateway::LocalServices::new();
            local.insert(
                "registry".to_owned(),
                egov_registry::service_router(registry(db, config)),
            );
            egov_gateway::Gateway::new(db.clone(), Arc::clone(&config.clock), local)
                .with_conf_max_age(config.configuration_max_age)
                .with_timestamp_limit(config.timestamp_limit)
        })
        .clone()
}

/// The base registries of this node. The gateway mounts
/// `egov_registry::service_router` over it as a provider service; it is
/// not part of the public app.
pub fn registry(db: &Db, config: &AppConfig) -> egov_registry::Registry {
    egov_registry::Registry::new(db.clone(), Arc::clone(&config.clock))
}

/// Marks every response of a router as final, so the shell never rewrites
/// it: what crosses the gateway is the service's answer or an X-Road error
/// in the protocol's format, and the hub answers gateways in its own.
fn final_body(router: Router) -> Router {
    router.layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            response.extensions_mut().insert(egov_web::error::FinalBody);
            response
        },
    ))
}

/// The whole HTTP surface of one node.
pub fn router(db: Db, config: &AppConfig) -> Router {
    let catalogue = Catalogue::new(db.clone(), Arc::clone(&config.clock), Arc::clone(&config.calendar));
    let sign_in = egov_id::router(provider(&db, config));
    // The portal reaches the sign-in service by handing its requests to the
    // sign-in service's router: the same OpenID Connect, without a network.
    let portal_settings = portal_config(config);
    let transport = Transport::InProcess {
        issuer: portal_settings.issuer.clone(),
        router: sign_in.clone(),
    };
    let portal = Portal::new(db.clone(), Arc::clone(&config.clock), portal_settings, transport);
    let (payments, simulator) = payments(config);
    let gateway = gateway(&db, config);
    let monitor = gateway.monitor().clone();
    let mut dossiers = dossiers_with(db.clone(), config, catalogue.clone(), payments);
    if let Some(setup) = &config.population {
        // The one-stop shop reads the registry as a separate system would:
        // through the gateway, in the X-Road protocol.
        dossiers = dossiers.with_population(Arc::new(crate::population::GatewayPopulation {
            gateway: gateway.clone(),
            client: setup.client.clone(),
            service: setup.service.clone(),
        }));
    }
    let identify = Arc::new(crate::identify::PlatformIdentify {
        provider: provider(&db, config),
        portal: portal.clone(),
    });
    let mut app = egov_onestop::router(catalogue)
        .merge(egov_onestop::dossier::router(
            egov_onestop::dossier::api::DossierState {
                dossiers,
                identify: identify.clone(),
            },
        ))
        .merge(sign_in)
        .merge(egov_portal::router(portal))
        .merge(crate::gateway_page::router(gateway.clone(), identify.clone()))
        .merge(final_body(egov_gateway::router(gateway)))
        .merge(egov_registry::portal_router(registry(&db, config), identify))
        .merge(final_body(egov_gateway::hub_http::router(
            db.clone(),
            Arc::clone(&config.clock),
        )));
    if let Some(simulator) = simulator {
        app = app.merge(simulator);
    }
    if let Some(sink) = &config.mailbox {
        app = app.merge(crate::demo_mailbox::router(sink.clone()));
    }
    let shell = ShellConfig {
        secret_key: config.secret_key.clone(),
        https: config.https,
        request_timeout: config.request_timeout,
        max_body_bytes: config.max_body_bytes,
        // Bearer-token APIs: no cookie authenticates them, so no CSRF token.
        csrf_exempt: vec![
            "/oauth/token",
            "/oauth/revoke",
            "/oauth/introspect",
            "/oauth/userinfo",
            "/api/v1/id/",
            "/api/v1/dossiers",
            "/api/v1/counter-dossiers",
            "/api/v1/procedures/",
            "/api/govstack/",
            // Called by the bank and the payment gateway, authenticated by their signatures.
            "/api/v1/payments/",
            "/vnpay/",
            // Posted by the sign-in service, authenticated by its signed token.
            "/portal/backchannel-logout",
            // Called by agency systems with the X-Road protocol; no cookie authenticates them.
            "/r1/",
            // Called by gateways, authenticated by the token or their signature.
            "/hub/v1/",
        ],
    };
    let state = ShellState {
        db,
        metrics: Arc::new(Metrics::new(|registry| monitor.register(registry))),
        openapi: Arc::new(openapi()),
        https: config.https,
    };
    egov_web::shell(app, &shell, state)
}
