//! Running a node: connect, migrate, seed, serve, work, and stop cleanly.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use egov_core::clock::{Clock, SystemClock};
use egov_db::{Db, PoolSettings};

use crate::app::{self, AppConfig};
use crate::config::{ConfigError, Settings};
use crate::workers;

/// Opens the database the settings name; an unreachable one is reported
/// against its key.
pub async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        ..PoolSettings::default()
    };
    Db::connect(settings.database.url.expose(), &pool)
        .await
        .map_err(|error| {
            anyhow::Error::new(ConfigError::Invalid {
                key: "database.url",
                message: format!("cannot open the database: {}", egov_web::error::error_chain(&error)),
            })
        })
}

/// Settings for `--data DIR`: SQLite in the folder, and a secret key kept
/// beside it (made on first use, readable only by its owner).
pub fn settings_for_data_dir(data: &Path, create: bool) -> anyhow::Result<Settings> {
    if create {
        std::fs::create_dir_all(data)
            .with_context(|| format!("Failed to create the data folder {}", data.display()))?;
    }
    let mut settings = Settings::default();
    settings.database.url = crate::config::Secret::new(format!("sqlite://{}", data.join("egov.db").display()));
    let key_path = data.join("secret.key");
    let key = match std::fs::read_to_string(&key_path) {
        Ok(key) => key.trim().to_owned(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && create => {
            let key = new_secret_key();
            write_private_file(&key_path, &key)?;
            key
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => {
            return Err(error).with_context(|| format!("Failed to read {}", key_path.display()));
        }
    };
    settings.security.secret_key = crate::config::Secret::new(key);
    Ok(settings)
}

fn new_secret_key() -> String {
    use base64::Engine as _;
    use rand::Rng as _;
    let mut bytes = [0_u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("Failed to create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("Failed to write {}", path.display()))
}

/// The composed app's settings, from the node's.
fn app_config(
    settings: &Settings,
    secret_key: Vec<u8>,
    clock: &Arc<dyn Clock>,
    mailbox: Option<egov_mail::MailSink>,
    payments: app::PaymentSetup,
) -> anyhow::Result<AppConfig> {
    Ok(AppConfig {
        secret_key,
        https: settings.https(),
        request_timeout: Duration::from_secs(settings.server.request_timeout_secs),
        max_body_bytes: settings.server.max_body_bytes,
        clock: Arc::clone(clock),
        calendar: Arc::new(egov_core::calendar::HolidayCalendar::embedded()),
        public_url: settings.server.public_url.trim_end_matches('/').to_owned(),
        hasher: password_hasher(),
        mailbox,
        payments,
        configuration_max_age: Duration::from_secs(settings.federation.configuration_max_age_secs),
        timestamp_limit: Duration::from_secs(settings.federation.timestamp_limit_secs),
        gateway: Arc::default(),
        population: settings
            .onestop
            .population()?
            .map(|(client, service)| app::PopulationSetup { client, service }),
        national: settings
            .onestop
            .national()?
            .map(|(client, service)| app::PopulationSetup { client, service }),
    })
}

/// Applies pending migrations, or (with `database.migrate_on_start` off)
/// refuses to start on a database that needs them.
async fn migrate_or_check(db: &Db, settings: &Settings) -> anyhow::Result<()> {
    if settings.database.migrate_on_start {
        db.migrate().await.context("Failed to migrate the database")?;
    } else {
        let pending = db
            .pending_migrations()
            .await
            .context("Failed to read applied migrations")?;
        anyhow::ensure!(
            pending.is_empty(),
            "the database needs migrating first (`egov migrate`): {}",
            pending.join(", ")
        );
    }
    Ok(())
}

/// The demo's accounts, population registry and gateway services; the
/// text to print about them.
async fn load_demo(
    db: &Db,
    config: &AppConfig,
    federation_listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<String> {
    let accounts = crate::demo::load_accounts(db, config)
        .await
        .context("Failed to load demo accounts")?;
    let registry = crate::demo::load_registry(db, config)
        .await
        .context("Failed to load the demo population registry")?;
    let gateway = crate::demo::load_gateway(db)
        .await
        .context("Failed to register the demo's gateway services")?;
    let mut text = format!("{accounts}\n{registry}\n{gateway}");
    if let Some(listen) = federation_listen {
        let federation = crate::demo::load_federation(db, config, &format!("https://{listen}")).await?;
        text.push('\n');
        text.push_str(&federation);
    }
    Ok(text)
}

/// How fees are paid: as configured, or, for the demo, through the
/// gateway simulator and a made-up bank account.
fn payment_setup(settings: &Settings, secret_key: &[u8], demo: bool) -> crate::app::PaymentSetup {
    let payments = &settings.payments;
    let notification_secret = if payments.bank_notification_secret.expose().is_empty() {
        None
    } else {
        Some(payments.bank_notification_secret.expose().as_bytes().to_vec())
    };
    if demo || payments.simulator {
        let secret = notification_secret.unwrap_or_else(|| {
            egov_portal::derived_secret_for(secret_key, b"egov demo bank notifications").into_bytes()
        });
        return crate::app::PaymentSetup::demo(secret);
    }
    let gateway = (!payments.gateway_endpoint.is_empty()).then(|| crate::app::GatewaySetup {
        terminal_code: payments.gateway_terminal_code.clone(),
        hash_secret: egov_payments::gateway::HashSecret::new(payments.gateway_hash_secret.expose()),
        payment_endpoint: payments.gateway_endpoint.clone(),
        api_endpoint: payments.gateway_api_endpoint.clone(),
    });
    let bank = (!payments.bank_bin.is_empty()).then(|| egov_onestop::dossier::payment::BankAccount {
        bin: payments.bank_bin.clone(),
        account_number: payments.bank_account_number.clone(),
        account_name: payments.bank_account_name.clone(),
    });
    crate::app::PaymentSetup {
        simulator: false,
        gateway,
        bank,
        bank_notification_secret: notification_secret,
    }
}

/// What `run` does besides serving.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub demo_data: bool,
    /// `egov demo`: the instance is also the hub of its own federation.
    pub demo_federation: bool,
    /// Printed once the node listens.
    pub banner: Option<String>,
}

/// Runs a node until Ctrl-C or SIGTERM.
pub async fn run(settings: Settings, options: RunOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let secret_key = settings.require_secret_key()?.as_bytes().to_vec();
    let db = connect(&settings).await?;
    migrate_or_check(&db, &settings).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if options.demo_data {
        let report = egov_onestop::seed::load_demo(&db, clock.now())
            .await
            .context("Failed to load demo data")?;
        tracing::info!(?report, "Demo data loaded");
    } else {
        egov_onestop::seed::load_reference(&db)
            .await
            .context("Failed to load reference data")?;
    }

    let (mailer, mailbox) = mail(&settings, options.demo_data).await?;
    let payments = payment_setup(&settings, &secret_key, options.demo_data);
    let config = app_config(&settings, secret_key, &clock, mailbox, payments)?;
    app::prepare(&db, &config)
        .await
        .context("Failed to prepare the sign-in service's keys")?;
    let demo_accounts = if options.demo_data {
        Some(
            load_demo(
                &db,
                &config,
                options.demo_federation.then_some(settings.federation.listen).flatten(),
            )
            .await?,
        )
    } else {
        app::registry(&db, &config)
            .ensure_shipped()
            .await
            .context("Failed to create the registries' datasets")?;
        None
    };
    let router = app::router(db.clone(), &config);
    let listener = tokio::net::TcpListener::bind(settings.server.listen)
        .await
        .map_err(|error| ConfigError::Invalid {
            key: "server.listen",
            message: format!("cannot listen: {error}"),
        })?;

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut background = if settings.jobs.enabled {
        let handlers = workers::Handlers {
            mailer,
            logouts: egov_id::backchannel::LogoutSender::new(app::provider(&db, &config))
                .map_err(|error| anyhow::anyhow!("Failed to build the HTTP client for logout notices: {error}"))?,
            dossiers: app::dossiers(&db, &config),
            gateway: app::gateway(&db, &config),
            national: config.national.clone(),
        };
        start_background_work(&db, &clock, &settings, handlers, &shutdown_rx)
    } else {
        Vec::new()
    };
    background.extend(start_federation(&db, &config, &settings, &shutdown_rx, !options.demo_federation).await?);

    tracing::info!(listen = %settings.server.listen, engine = db.engine().as_str(), ready_ms = started.elapsed().as_millis(), "egov is serving");
    if let Some(banner) = &options.banner {
        print_banner(banner, demo_accounts.as_deref(), &config, started);
    }
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("The HTTP server stopped with an error")?;
    let _ = shutdown_tx.send(true);
    for task in background {
        let _ = task.await;
    }
    db.close().await;
    tracing::info!("egov stopped");
    Ok(())
}

/// What `egov demo` prints once it serves: where to go and who to be.
fn print_banner(banner: &str, demo_accounts: Option<&str>, config: &AppConfig, started: Instant) {
    println!("{banner}");
    if let Some(accounts) = demo_accounts {
        println!("{accounts}");
    }
    if config.mailbox.is_some() {
        println!(
            "  Mail the demo sends (verification, password reset): {}/demo/mailbox",
            config.public_url
        );
    }
    println!(
        "  Portal sign-in: {url}/portal\n  My account (passkeys, authenticator app, sessions): {url}/account\n  Administration: {url}/admin/users, {url}/admin/sign-in",
        url = config.public_url
    );
    println!("Ready in {} ms. Press Ctrl-C to stop.", started.elapsed().as_millis());
}

/// The SMTP mailer the settings name. The demo without an SMTP server gets
/// its own mailbox: a local SMTP sink shown at `/demo/mailbox`.
async fn mail(
    settings: &Settings,
    demo: bool,
) -> anyhow::Result<(Option<egov_mail::Mailer>, Option<egov_mail::MailSink>)> {
    let invalid = |error: egov_mail::MailError| ConfigError::Invalid {
        key: "mail.smtp_url",
        message: error.to_string(),
    };
    let url = settings.mail.smtp_url.expose();
    if !url.is_empty() {
        let mailer = egov_mail::Mailer::new(url, &settings.mail.from).map_err(invalid)?;
        return Ok((Some(mailer), None));
    }
    if !demo {
        tracing::warn!("mail.smtp_url is not set: e-mails wait in the job queue until it is");
        return Ok((None, None));
    }
    let sink = egov_mail::MailSink::start()
        .await
        .context("Failed to start the demo mailbox")?;
    let mailer = egov_mail::Mailer::new(&sink.smtp_url(), &settings.mail.from).map_err(invalid)?;
    Ok((Some(mailer), Some(sink)))
}

/// Argon2id at the OWASP parameters, with as many hashes at once as there
/// are cores: the rest queue instead of exhausting memory.
pub fn password_hasher() -> egov_id::password::PasswordHasher {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    egov_id::password::PasswordHasher::new(cores)
}

/// A gateway that joined a federation: a task that keeps the hub told of
/// its subsystems and its configuration fresh, and the provider side's
/// mutual-TLS listener where other gateways call (if `federation.listen`
/// is set).
async fn start_federation(
    db: &Db,
    config: &AppConfig,
    settings: &Settings,
    shutdown: &tokio::sync::watch::Receiver<bool>,
    // A production node must listen where it said it would; the demo's
    // listener is a courtesy, and a port in use must not stop the demo.
    listener_required: bool,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    use egov_gateway::{federation, tls};
    let Some(membership) = federation::membership(db)
        .await
        .context("Failed to read the gateway's federation")?
    else {
        return Ok(Vec::new());
    };
    let mut tasks = Vec::new();
    let every = Duration::from_secs(settings.federation.refresh_secs);
    let (refresh_db, clock, mut stop) = (db.clone(), Arc::clone(&config.clock), shutdown.clone());
    tasks.push(tokio::spawn(async move {
        loop {
            if let Err(error) = federation::push_subsystems(&refresh_db, clock.now()).await {
                tracing::warn!(%error, "Could not tell the hub this gateway's subsystems");
            }
            match federation::refresh(&refresh_db, clock.now()).await {
                Ok(conf) => tracing::debug!(serial = conf.serial, "The federation's configuration is fresh"),
                Err(error) => tracing::warn!(%error, "Could not refresh the federation's configuration"),
            }
            match federation::stamp(&refresh_db).await {
                Ok(stamped) => tracing::debug!(?stamped, "The message log is time-stamped"),
                Err(error) => tracing::warn!(%error, "The hub could not time-stamp the message log"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
        }
    }));
    if let Some(listen) = settings.federation.listen {
        let server_config = tls::server_config(
            &membership.ca_cert_pem,
            &membership.tls_cert_pem,
            &membership.tls_key_pem,
        )
        .context("Failed to set up the gateway's TLS")?;
        let listener = match tls::TlsListener::bind(listen, server_config).await {
            Ok(listener) => listener,
            Err(error) if !listener_required => {
                tracing::warn!(%error, %listen, "The demo's gateway cannot listen for other gateways");
                return Ok(tasks);
            }
            Err(error) => {
                return Err(ConfigError::Invalid {
                    key: "federation.listen",
                    message: format!("cannot listen: {error}"),
                }
                .into());
            }
        };
        tracing::info!(%listen, gateway = %membership.gateway_id, "The gateway's provider side is listening (mutual TLS)");
        let gateway = app::gateway(db, config);
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = tls::serve(gateway, listener, stop).await {
                tracing::error!(%error, "The gateway's provider side stopped");
            }
        }));
    }
    Ok(tasks)
}

/// The job worker, the housekeeping schedule and the SQLite checkpointer,
/// stopped by `shutdown`.
fn start_background_work(
    db: &Db,
    clock: &Arc<dyn Clock>,
    settings: &Settings,
    handlers: workers::Handlers,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let node_id = format!("{}-{}", hostname(), std::process::id());
    let worker = workers::worker(
        db,
        Arc::clone(clock),
        &node_id,
        Duration::from_millis(settings.jobs.poll_interval_ms),
        handlers,
    );
    let schedule_db = db.clone();
    let schedule_clock = Arc::clone(clock);
    let mut schedule_shutdown = shutdown.clone();
    let log_retention_days = settings.gateway.log_retention_days;
    let schedule = async move {
        loop {
            if let Err(error) =
                workers::schedule_housekeeping(&schedule_db, schedule_clock.as_ref(), log_retention_days).await
            {
                tracing::warn!(%error, "Could not schedule housekeeping");
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_hours(1)) => {}
                _ = schedule_shutdown.changed() => return,
            }
        }
    };
    let checkpoint_db = db.clone();
    let mut checkpoint_shutdown = shutdown.clone();
    let checkpoints = async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = checkpoint_shutdown.changed() => return,
            }
            if let Err(error) = checkpoint_db.checkpoint().await {
                tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "Could not checkpoint the database");
            }
        }
    };
    vec![
        tokio::spawn(worker.run(shutdown.clone())),
        tokio::spawn(schedule),
        tokio::spawn(checkpoints),
    ]
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "node".to_owned())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("Shutting down");
}
