//! `egov`: one binary for every part of the platform.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use egov::config::{LogFormat, Settings};
use egov::node::{self, RunOptions};
use egov_onestop::catalogue::import::ImportMode;

#[derive(Debug, Parser)]
#[command(
    name = "egov",
    version,
    about = "egov: e-government platform (portal, one-stop office, sign-in, gateway)"
)]
struct Cli {
    /// Configuration file (TOML); `EGOV__SECTION__KEY` variables override it.
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "data")]
    config: Option<PathBuf>,
    /// Data folder of a demo or single-machine instance (SQLite inside).
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything on SQLite with demo data, and print where to sign in.
    Demo {
        /// Port to listen on (on 127.0.0.1).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Run a production node (`--config egov.toml`).
    Serve {
        /// Also load the demo province's agencies and catalogue (for staging
        /// and benchmarks; a second start changes nothing).
        #[arg(long)]
        with_demo_data: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Validate the configuration and reach the database.
    CheckConfig,
    /// Import data from files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Administer the central sign-in service.
    #[command(subcommand)]
    Id(Box<IdCommand>),
    /// Administer the integration gateway (X-Road REST).
    #[command(subcommand)]
    Gateway(egov::gateway_commands::GatewayCommand),
    /// Administer the hub of a federation (member registry, CA, configuration).
    #[command(subcommand)]
    Hub(egov::gateway_commands::HubCommand),
    /// Base registries (population, enterprise).
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Import records from a CSV file whose header names the dataset's
    /// fields; bad lines are printed and skipped, and make the exit code
    /// non-zero.
    Import {
        /// The dataset, e.g. `population` or `enterprise`.
        #[arg(long)]
        dataset: String,
        file: PathBuf,
    },
    /// Let a client system (a gateway subsystem) read a dataset for a
    /// purpose, stated in `X-Road-Issue`.
    GrantPurpose {
        /// INSTANCE/CLASS/MEMBER/SUBSYSTEM
        #[arg(long)]
        client: String,
        #[arg(long)]
        dataset: String,
        /// e.g. `onestop-prefill`
        #[arg(long)]
        purpose: String,
    },
    /// Print a population CSV of generated persons (for demos and benchmarks).
    Generate {
        #[arg(long)]
        persons: usize,
        /// The same seed gives the same persons.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
enum IdCommand {
    /// Register OpenID Connect clients.
    #[command(subcommand)]
    Client(IdClientCommand),
    /// Create accounts.
    #[command(subcommand)]
    User(IdUserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(IdKeysCommand),
    /// Upstream identity providers to sign in through ("Đăng nhập bằng VNeID").
    #[command(subcommand)]
    Upstream(IdUpstreamCommand),
}

#[derive(Debug, Subcommand)]
enum IdUpstreamCommand {
    /// Register an upstream OpenID provider; its client secret is read from
    /// standard input. Register `{public_url}/oauth/upstream/callback` as the
    /// redirect URI at the upstream.
    Add {
        /// Short id used in URLs, such as `vneid`.
        #[arg(long)]
        id: String,
        /// Shown on the sign-in button: "Đăng nhập bằng NAME".
        #[arg(long)]
        name: String,
        /// The upstream's issuer URL (its discovery document is read from it).
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        /// Scopes to ask for (repeat or space-separate); default
        /// `profile personal_id email`.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum IdClientCommand {
    /// Register a client; prints the secret of a confidential client once.
    Add {
        #[arg(long)]
        client_id: String,
        /// Display name shown on the sign-in page.
        #[arg(long)]
        name: Option<String>,
        /// Exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Exact post-logout redirect URI (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE only).
        #[arg(long)]
        public: bool,
        /// Allowed scopes (repeat or space-separate); openid is always added.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Allowed grant types (repeat); default authorization_code and refresh_token.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// ID token signing algorithm: RS256, ES256 or EdDSA.
        #[arg(long, default_value = "RS256")]
        alg: String,
        /// Pairwise `sub` values: the client's sector sees its own
        /// identifier for each user.
        #[arg(long)]
        pairwise: bool,
        /// The sector of a pairwise client (a host name); by default the
        /// host of its redirect URIs.
        #[arg(long, requires = "pairwise")]
        sector_identifier: Option<String>,
        /// A JSON file with the client's public JWKS: the client signs in
        /// with private_key_jwt and gets no secret.
        #[arg(long, conflicts_with = "public")]
        jwks_file: Option<std::path::PathBuf>,
        /// Where to POST logout tokens when a session ends (back-channel logout).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum IdUserCommand {
    /// Create an account; the password is read from standard input.
    Add {
        /// The 12-digit personal identification number.
        #[arg(long)]
        personal_id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// Date of birth, YYYY-MM-DD.
        #[arg(long)]
        birthdate: Option<String>,
        /// An official of an agency rather than a citizen.
        #[arg(long, requires = "agency")]
        official: bool,
        /// The official's agency code.
        #[arg(long, requires = "official")]
        agency: Option<String>,
        /// The official's department in the agency (e.g. MOT_CUA), if any:
        /// they then see the dossiers at that department's workflow steps.
        #[arg(long, requires = "agency")]
        department: Option<String>,
        /// A role of the official (repeat): receiver, specialist, leader, agency_admin, platform_admin.
        #[arg(long = "role", requires = "official")]
        roles: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum IdKeysCommand {
    /// Publish a new signing key, or activate the published one.
    Rotate {
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Import procedures from a .csv, .json or .jsonl file: all rows or none.
    Procedures {
        file: PathBuf,
        /// What to do with procedures that exist already.
        #[arg(long, value_enum, default_value_t = Mode::Upsert)]
        mode: Mode,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// Replace existing procedures with the file's version.
    Upsert,
    /// Leave existing procedures alone.
    InsertMissing,
}

fn settings(cli: &Cli, default_data: Option<&str>) -> anyhow::Result<Settings> {
    if let Some(file) = &cli.config {
        return Ok(Settings::load(Some(file))?);
    }
    match cli
        .data
        .as_deref()
        .map(PathBuf::from)
        .or_else(|| default_data.map(PathBuf::from))
    {
        Some(data) => node::settings_for_data_dir(&data, default_data.is_some()),
        None => Ok(Settings::load(None)?),
    }
}

fn init_tracing(settings: &Settings) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|filter| filter.parse().ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(&settings.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

async fn run_id_command(command: &IdCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        IdCommand::Client(IdClientCommand::Add {
            client_id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            scopes,
            grant_types,
            alg,
            pairwise,
            sector_identifier,
            jwks_file,
            backchannel_logout_uri,
        }) => {
            let options = egov::id_commands::ClientOptions {
                client_id: client_id.clone(),
                name: name.clone(),
                redirect_uris: redirect_uris.clone(),
                post_logout_redirect_uris: post_logout_redirect_uris.clone(),
                public: *public,
                scopes: scopes.clone(),
                grant_types: grant_types.clone(),
                alg: alg.clone(),
                pairwise: *pairwise,
                sector_identifier: sector_identifier.clone(),
                jwks_file: jwks_file.clone(),
                backchannel_logout_uri: backchannel_logout_uri.clone(),
            };
            egov::id_commands::add_client(settings, &options).await
        }
        IdCommand::User(IdUserCommand::Add {
            personal_id,
            name,
            email,
            phone,
            birthdate,
            official,
            agency,
            department,
            roles,
        }) => {
            let options = egov::id_commands::UserOptions {
                personal_id: personal_id.clone(),
                name: name.clone(),
                email: email.clone(),
                phone: phone.clone(),
                birthdate: birthdate.clone(),
                official: *official,
                agency: agency.clone(),
                department: department.clone(),
                roles: roles.clone(),
            };
            egov::id_commands::add_user(settings, &options).await
        }
        IdCommand::Keys(IdKeysCommand::Rotate { alg }) => egov::id_commands::rotate_key(settings, alg).await,
        IdCommand::Upstream(IdUpstreamCommand::Add {
            id,
            name,
            issuer,
            client_id,
            scopes,
        }) => {
            let upstream = egov::id_commands::UpstreamOptions {
                id: id.clone(),
                name: name.clone(),
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                scopes: scopes.clone(),
            };
            egov::id_commands::add_upstream(settings, &upstream).await
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Demo { port } => {
            let data = cli.data.clone().unwrap_or_else(|| PathBuf::from("egov-data"));
            let mut settings = node::settings_for_data_dir(&data, true)?;
            settings.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], *port));
            settings.server.public_url = format!("http://localhost:{port}");
            // The one-stop shop reports dossier statuses to the national
            // portal, which the demo's hub holds.
            egov::demo::DEMO_NATIONAL_SERVICE.clone_into(&mut settings.onestop.national_service);
            // The gateway's provider side, for other gateways of the federation.
            settings.federation.listen = port
                .checked_add(1)
                .map(|tls_port| std::net::SocketAddr::from(([127, 0, 0, 1], tls_port)));
            "warn,egov=info".clone_into(&mut settings.log.level);
            init_tracing(&settings);
            let banner = format!(
                "egov demo is running: {url}/\n  Procedure catalogue: {url}/procedures\n  API documentation:   {url}/api/docs\n  Data: {} (SQLite)",
                data.display(),
                url = settings.server.public_url,
            );
            node::run(
                settings,
                RunOptions {
                    demo_data: true,
                    demo_federation: true,
                    banner: Some(banner),
                },
            )
            .await
        }
        Command::Serve { with_demo_data } => {
            let settings = settings(&cli, None)?;
            init_tracing(&settings);
            node::run(
                settings,
                RunOptions {
                    demo_data: *with_demo_data,
                    ..RunOptions::default()
                },
            )
            .await
        }
        Command::Migrate => {
            let settings = settings(&cli, None)?;
            init_tracing(&settings);
            egov::commands::migrate(&settings).await
        }
        Command::CheckConfig => {
            let settings = settings(&cli, None)?;
            egov::commands::check_config(&settings).await
        }
        Command::Id(command) => {
            let settings = settings(&cli, None)?;
            run_id_command(command, &settings).await
        }
        Command::Gateway(command) => {
            let settings = settings(&cli, None)?;
            egov::gateway_commands::run(command, &settings).await
        }
        Command::Hub(command) => {
            let settings = settings(&cli, None)?;
            egov::gateway_commands::run_hub(command, &settings).await
        }
        Command::Registry(RegistryCommand::Import { dataset, file }) => {
            let settings = settings(&cli, None)?;
            init_tracing(&settings);
            egov::commands::registry_import(&settings, dataset, file).await
        }
        Command::Registry(RegistryCommand::GrantPurpose {
            client,
            dataset,
            purpose,
        }) => {
            let settings = settings(&cli, None)?;
            egov::commands::registry_grant_purpose(&settings, client, dataset, purpose).await
        }
        Command::Registry(RegistryCommand::Generate { persons, seed }) => {
            egov::commands::registry_generate(*persons, *seed)
        }
        Command::Import(ImportCommand::Procedures { file, mode }) => {
            let settings = settings(&cli, None)?;
            init_tracing(&settings);
            let mode = match mode {
                Mode::Upsert => ImportMode::Upsert,
                Mode::InsertMissing => ImportMode::InsertMissing,
            };
            egov::commands::import_procedures(&settings, file, mode)
                .await
                .context("Import failed")
        }
    }
}
