//! `egov gateway …`: the gateway's operator commands. They work on the same
//! database as a running server, whose nodes see a change within
//! `egov_gateway::gateway::DIRECTORY_TTL`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use egov_gateway::admin::{self, Connection, ServiceSpec};
use egov_gateway::id::{ClientId, ServiceId};

use crate::config::Settings;
use crate::node;

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Register a subsystem this gateway serves.
    #[command(subcommand)]
    Subsystem(SubsystemCommand),
    /// Register a service of a subsystem.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Make a subsystem a publish/subscribe room (GovStack PubSub API):
    /// its services pub, api and pull, and event types.
    Room {
        /// INSTANCE/CLASS/MEMBER/SUBSYSTEM (registered first)
        #[arg(long)]
        id: String,
        #[arg(long = "event-type")]
        event_types: Vec<String>,
    },
    /// Let a client (member or subsystem), or a global group, call a service.
    Grant {
        /// INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE
        #[arg(long)]
        service: String,
        /// INSTANCE/CLASS/MEMBER[/SUBSYSTEM]
        #[arg(long, required_unless_present = "group", conflicts_with = "group")]
        client: Option<String>,
        /// A global group of the federation: INSTANCE/CODE
        #[arg(long)]
        group: Option<String>,
    },
    /// Take a client's right to a service away.
    Revoke {
        #[arg(long)]
        service: String,
        #[arg(long)]
        client: String,
    },
    /// List the subsystems, services and access rights.
    List,
    /// Join a federation with the one-time token its hub's operator gave.
    Join {
        /// The hub's URL, e.g. https://hub.example.vn
        #[arg(long)]
        hub: String,
        #[arg(long)]
        token: String,
        /// Where this gateway's provider side will listen for other
        /// gateways (`federation.listen`): https://host:port
        #[arg(long)]
        address: String,
    },
    /// Tell the hub this gateway's subsystems and download the
    /// federation's configuration now (nodes do it every
    /// `federation.refresh_secs`).
    Refresh,
    /// Export the message log of a period (dates in Vietnam's time, both
    /// included) as an archive signed by this gateway; retention
    /// (`gateway.log_retention_days`) removes only archived records.
    ExportLog {
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: chrono::NaiveDate,
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: chrono::NaiveDate,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check an exported archive: its manifest's signature, its lines and
    /// its chain.
    VerifyArchive { file: PathBuf },
    /// Prove the message log: its chain, every message's hash and every
    /// signature. Names the first bad record and fails if there is one.
    VerifyLog,
}

#[derive(Debug, Subcommand)]
pub enum SubsystemCommand {
    Add {
        /// INSTANCE/CLASS/MEMBER/SUBSYSTEM, each part percent-encoded.
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Accept calls as this subsystem from any host, not only this one.
        #[arg(long)]
        open: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    Add {
        /// INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE
        #[arg(long)]
        id: String,
        /// `local:NAME` or the service's http(s) base URL.
        #[arg(long)]
        target: String,
        /// Its OpenAPI 3 description (JSON), served by getOpenAPI.
        #[arg(long, value_name = "FILE")]
        openapi: Option<PathBuf>,
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: i64,
    },
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".to_owned())
    )
}

pub async fn run(command: &GatewayCommand, settings: &Settings) -> anyhow::Result<()> {
    let db = node::connect(settings).await?;
    db.migrate().await.context("Failed to migrate the database")?;
    let result = run_on(command, &db).await;
    db.close().await;
    result
}

async fn run_on(command: &GatewayCommand, db: &egov_db::Db) -> anyhow::Result<()> {
    let actor = actor();
    match command {
        GatewayCommand::Subsystem(SubsystemCommand::Add { id, name, open }) => {
            let id = ClientId::parse(id).context("--id")?;
            let connection = if *open { Connection::Open } else { Connection::Loopback };
            admin::add_subsystem(db, &actor, &id, name, connection).await?;
            println!("Subsystem {id} registered ({}).", connection.as_str());
        }
        GatewayCommand::Service(ServiceCommand::Add {
            id,
            target,
            openapi,
            timeout_ms,
        }) => {
            let service = ServiceId::parse(id).context("--id")?;
            let openapi = openapi
                .as_ref()
                .map(|file| std::fs::read_to_string(file).with_context(|| format!("Failed to read {}", file.display())))
                .transpose()?;
            admin::add_service(
                db,
                &actor,
                &ServiceSpec {
                    service: service.clone(),
                    target: target.clone(),
                    openapi,
                    timeout_ms: *timeout_ms,
                },
            )
            .await?;
            println!("Service {service} registered: {target}");
        }
        GatewayCommand::Room { id, event_types } => {
            let room = ClientId::parse(id).context("--id")?;
            admin::add_room(db, &actor, &room, event_types).await?;
            println!(
                "{room} is a room with the services pub, api and pull; event types: {}.",
                if event_types.is_empty() {
                    "none yet".to_owned()
                } else {
                    event_types.join(", ")
                }
            );
        }
        GatewayCommand::Grant { service, client, group } => {
            let service = ServiceId::parse(service).context("--service")?;
            if let Some(group) = group {
                let (instance, code) = group.split_once('/').context("--group is INSTANCE/CODE")?;
                admin::grant_group(db, &actor, &service, instance, code).await?;
                println!("The global group {group} may call {service}.");
            } else if let Some(client) = client {
                let client = ClientId::parse(client).context("--client")?;
                admin::grant(db, &actor, &service, &client).await?;
                println!("{client} may call {service}.");
            }
        }
        GatewayCommand::Revoke { service, client } => {
            let service = ServiceId::parse(service).context("--service")?;
            let client = ClientId::parse(client).context("--client")?;
            if admin::revoke(db, &actor, &service, &client).await? {
                println!("{client} may no longer call {service}.");
            } else {
                println!("{client} had no right to {service}.");
            }
        }
        GatewayCommand::List => list(db).await?,
        GatewayCommand::Join { hub, token, address } => {
            let now = chrono::Utc::now();
            let joined = egov_gateway::federation::join(db, hub, token, address, now).await?;
            println!("Joined the federation {} as {}.", joined.instance, joined.gateway_id);
            refresh(db).await?;
            println!("Set federation.listen to the address's port, and restart the nodes.");
        }
        GatewayCommand::Refresh => refresh(db).await?,
        GatewayCommand::VerifyLog => verify_log(db).await?,
        GatewayCommand::ExportLog { from, to, out } => export_log(db, *from, *to, out).await?,
        GatewayCommand::VerifyArchive { file } => {
            let text = std::fs::read_to_string(file).with_context(|| format!("Failed to read {}", file.display()))?;
            let manifest = egov_gateway::log::verify_archive(&text, &egov_gateway::gateway::log_keys(db).await?)?;
            println!(
                "The archive holds: {} record(s), #{} to #{}, signed by {}.",
                manifest.records, manifest.first_seq, manifest.last_seq, manifest.key_id
            );
        }
    }
    Ok(())
}

/// Prints the subsystems, services and access rights.
async fn list(db: &egov_db::Db) -> anyhow::Result<()> {
    for subsystem in egov_gateway::store::subsystems(db).await? {
        println!(
            "subsystem {} ({}, {})",
            subsystem.id, subsystem.name, subsystem.connection
        );
    }
    for service in egov_gateway::store::services(db).await? {
        println!(
            "service   {}/{} → {}",
            service.subsystem_id, service.service_code, service.target
        );
    }
    for (subsystem, service, client) in egov_gateway::store::access_rights(db).await? {
        println!("right     {client} → {subsystem}/{service}");
    }
    Ok(())
}

/// Writes the archive of a period, Vietnam's days from `from` to `to`.
async fn export_log(
    db: &egov_db::Db,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let vietnam = chrono::FixedOffset::east_opt(7 * 3600).context("UTC+7")?;
    let start = |day: chrono::NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .and_then(|at| at.and_local_timezone(vietnam).single())
            .map(|at| at.timestamp_millis())
    };
    let (Some(from_ms), Some(to_ms)) = (start(from), to.succ_opt().and_then(start)) else {
        anyhow::bail!("--from and --to must be dates");
    };
    anyhow::ensure!(from_ms < to_ms, "--from must not be after --to");
    let (key, _) = egov_gateway::gateway::keys(db).await?;
    let mut file = std::io::BufWriter::new(
        std::fs::File::create_new(out)
            .with_context(|| format!("Failed to create {} (it must not exist)", out.display()))?,
    );
    let manifest = egov_gateway::log::export(db, from_ms, to_ms, &key, &mut file, chrono::Utc::now()).await?;
    std::io::Write::flush(&mut file)?;
    if let Some(manifest) = manifest {
        println!(
            "Archived {} record(s), #{} to #{}, in {} (SHA-256 of the records {}).",
            manifest.records,
            manifest.first_seq,
            manifest.last_seq,
            out.display(),
            manifest.sha256
        );
    } else {
        drop(file);
        std::fs::remove_file(out).ok();
        println!("Nothing was logged from {from} to {to}.");
    }
    Ok(())
}

/// Proves the message log with every key its signatures may be made with.
async fn verify_log(db: &egov_db::Db) -> anyhow::Result<()> {
    let keys = egov_gateway::gateway::log_keys(db).await?;
    let report = egov_gateway::log::verify(db, &keys).await?;
    let stamps = match egov_gateway::federation::membership(db).await? {
        Some(membership) => Some(egov_gateway::log::verify_timestamps(db, &membership.anchor()?).await?),
        None => None,
    };
    if let Some(Err((seq, reason))) = &stamps {
        anyhow::bail!("The message log is broken at record #{seq}: {reason}");
    }
    match report.first_bad {
        None => {
            if let Some(Ok(count)) = stamps {
                println!("{count} time-stamp(s) of the hub verified.");
            }
            println!(
                "The message log holds: {} record(s){}, every chain link, hash and signature verified.",
                report.records,
                report
                    .first_seq
                    .filter(|seq| *seq > 1)
                    .map(|seq| format!(" from #{seq} (earlier ones were archived and removed)"))
                    .unwrap_or_default()
            );
        }
        Some((seq, reason)) => {
            anyhow::bail!("The message log is broken at record #{seq}: {reason}");
        }
    }
    Ok(())
}

async fn refresh(db: &egov_db::Db) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let pushed = egov_gateway::federation::push_subsystems(db, now).await?;
    let conf = egov_gateway::federation::refresh(db, now).await?;
    println!(
        "Told the hub {pushed} subsystem(s); configuration #{}: {} member(s), {} gateway(s), {} subsystem(s).",
        conf.serial,
        conf.members.len(),
        conf.gateways.len(),
        conf.subsystems.len()
    );
    Ok(())
}

/// `egov hub …`: the hub role's operator commands.
#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Make this instance the hub of a federation: its CA and its
    /// configuration key.
    Init {
        /// The federation's X-Road instance, e.g. VN
        #[arg(long)]
        instance: String,
    },
    /// Register (or rename) a member.
    #[command(subcommand)]
    Member(HubMemberCommand),
    /// Issue a one-time token for a member's gateway to join with
    /// (valid 24 hours; printed once).
    Token {
        /// INSTANCE/CLASS/MEMBER/GATEWAYCODE
        #[arg(long)]
        gateway: String,
    },
    /// Revoke a gateway: every other gateway refuses it from their next
    /// configuration.
    Revoke {
        #[arg(long)]
        gateway: String,
    },
    /// Print the federation's configuration as gateways receive it.
    Show,
    /// Global groups, which access rights can name at once.
    #[command(subcommand)]
    Group(HubGroupCommand),
}

#[derive(Debug, Subcommand)]
pub enum HubGroupCommand {
    /// Create (or describe again) a global group.
    Add {
        #[arg(long)]
        code: String,
        #[arg(long)]
        description: String,
    },
    /// Add a member or subsystem to a global group.
    Join {
        #[arg(long)]
        code: String,
        /// INSTANCE/CLASS/MEMBER[/SUBSYSTEM]
        #[arg(long)]
        client: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum HubMemberCommand {
    Add {
        /// INSTANCE/CLASS/CODE
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
    },
}

pub async fn run_hub(command: &HubCommand, settings: &Settings) -> anyhow::Result<()> {
    use egov_gateway::hub;
    let db = node::connect(settings).await?;
    db.migrate().await.context("Failed to migrate the database")?;
    let actor = actor();
    let now = chrono::Utc::now();
    let result: anyhow::Result<()> = async {
        match command {
            HubCommand::Init { instance } => {
                hub::init(&db, &actor, instance, now).await?;
                println!("This instance is the hub of the federation {instance}.");
            }
            HubCommand::Member(HubMemberCommand::Add { id, name }) => {
                let member = ClientId::parse(id).context("--id")?;
                hub::add_member(&db, &actor, &member, name, now).await?;
                println!("Member {member} registered.");
            }
            HubCommand::Token { gateway } => {
                let gateway = ClientId::parse(gateway).context("--gateway")?;
                let token = hub::issue_token(&db, &actor, &gateway, now).await?;
                println!("{token}");
                eprintln!(
                    "A one-time token for {gateway}, valid 24 hours: give it to its operator over a trusted channel."
                );
            }
            HubCommand::Revoke { gateway } => {
                if hub::revoke_gateway(&db, &actor, gateway, now).await? {
                    println!("Gateway {gateway} revoked.");
                } else {
                    println!("No gateway {gateway} that is not revoked already.");
                }
            }
            HubCommand::Group(HubGroupCommand::Add { code, description }) => {
                hub::add_group(&db, &actor, code, description, now).await?;
                println!("Global group {code} registered.");
            }
            HubCommand::Group(HubGroupCommand::Join { code, client }) => {
                let client = ClientId::parse(client).context("--client")?;
                hub::add_group_member(&db, &actor, code, &client, now).await?;
                println!("{client} is in the global group {code}.");
            }
            HubCommand::Show => {
                let signed = hub::configuration(&db, now).await?;
                let conf: serde_json::Value = serde_json::from_str(&signed.payload)?;
                println!("{}", serde_json::to_string_pretty(&conf)?);
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}
