//! The demo's accounts and clients: a citizen, one official per role, and
//! a demo relying party, created once and printed at every start; and the
//! demo population registry (generated persons, one record per demo
//! account) with the purposes the demo one-stop shop may read it for.

use std::fmt::Write as _;

use egov_id::admin::{self, AdminError, NewClient, NewUser};
use egov_id::domain::{Role, UserKind};

use crate::app::AppConfig;

/// The demo accounts' password. Printed, so it is for demos only.
pub const DEMO_PASSWORD: &str = "Hoa-sen-no-2026";

struct DemoAccount {
    personal_id: &'static str,
    name: &'static str,
    email: &'static str,
    kind: UserKind,
    agency: Option<&'static str>,
    /// The department in the agency (see the demo workflow's steps).
    department: Option<&'static str>,
    roles: &'static [Role],
}

const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        personal_id: "001090012345",
        name: "Nguyễn Văn An",
        email: "an.nguyen@example.vn",
        kind: UserKind::Citizen,
        agency: None,
        department: None,
        roles: &[],
    },
    DemoAccount {
        personal_id: "024185004321",
        name: "Trần Thị Bình",
        email: "binh.tran@kinhbac.example.vn",
        kind: UserKind::Official,
        agency: Some("000.00.01.H24"),
        department: Some("MOT_CUA"),
        roles: &[Role::Receiver],
    },
    DemoAccount {
        personal_id: "024088007654",
        name: "Lê Văn Cường",
        email: "cuong.le@kinhbac.example.vn",
        kind: UserKind::Official,
        agency: Some("000.00.01.H24"),
        department: Some("CHUYEN_MON"),
        roles: &[Role::Specialist],
    },
    DemoAccount {
        personal_id: "024087006677",
        name: "Đỗ Văn Khoa",
        email: "khoa.do@kinhbac.example.vn",
        kind: UserKind::Official,
        agency: Some("000.00.01.H24"),
        department: Some("CHUYEN_MON"),
        roles: &[Role::Specialist],
    },
    DemoAccount {
        personal_id: "024179001122",
        name: "Phạm Thị Dung",
        email: "dung.pham@kinhbac.example.vn",
        kind: UserKind::Official,
        agency: Some("000.00.01.H24"),
        department: None,
        roles: &[Role::Leader],
    },
    DemoAccount {
        personal_id: "024080003344",
        name: "Hoàng Văn Em",
        email: "em.hoang@kinhbac.example.vn",
        kind: UserKind::Official,
        agency: Some("000.00.01.H24"),
        department: None,
        roles: &[Role::AgencyAdmin],
    },
    DemoAccount {
        personal_id: "024191002233",
        name: "Ngô Thị Hạnh",
        email: "hanh.ngo@tiendu.example.vn",
        kind: UserKind::Official,
        agency: Some("000.00.02.H24"),
        department: Some("CHUYEN_MON"),
        roles: &[Role::Specialist],
    },
    DemoAccount {
        personal_id: "001082005566",
        name: "Vũ Thị Giang",
        email: "giang.vu@bacninh.example.vn",
        kind: UserKind::Official,
        agency: Some("000.00.00.H24"),
        department: None,
        roles: &[Role::PlatformAdmin],
    },
];

/// The demo relying party: try the sign-in flow with any OIDC client.
pub const DEMO_CLIENT_ID: &str = "demo-rp";
pub const DEMO_CLIENT_REDIRECT: &str = "http://127.0.0.1:8400/callback";

/// Creates what is missing and returns the text to print.
pub async fn load_accounts(db: &egov_db::Db, config: &AppConfig) -> Result<String, AdminError> {
    let now = config.clock.now();
    for account in ACCOUNTS {
        let user = NewUser {
            kind: account.kind,
            personal_id: account.personal_id.to_owned(),
            full_name: account.name.to_owned(),
            email: Some(account.email.to_owned()),
            phone_number: None,
            birthdate: None,
            gender: None,
            agency_code: account.agency.map(str::to_owned),
            department: account.department.map(str::to_owned),
            roles: account.roles.to_vec(),
        };
        match admin::add_user(db, &config.hasher, &user, DEMO_PASSWORD, "system:demo", now).await {
            Ok(_) | Err(AdminError::Exists(_)) => {}
            Err(error) => return Err(error),
        }
    }
    let mut client = NewClient::web(DEMO_CLIENT_ID, "Demo relying party", DEMO_CLIENT_REDIRECT);
    client.public = true;
    client
        .scopes
        .extend(["personal_id", "agency", "offline_access"].map(str::to_owned));
    match admin::add_client(db, &client, "system:demo", now).await {
        Ok(_) | Err(AdminError::Exists(_)) => {}
        Err(error) => return Err(error),
    }

    let mut text = String::from("  Demo accounts (password for all: ");
    let _ = write!(text, "{DEMO_PASSWORD}):");
    for account in ACCOUNTS {
        let role = match (account.roles.first(), account.department) {
            (Some(role), Some(department)) => format!(
                "official, {} at {}, {department}",
                role.as_str(),
                account.agency.unwrap_or_default()
            ),
            (Some(role), None) => format!("official, {} at {}", role.as_str(), account.agency.unwrap_or_default()),
            (None, _) => "citizen".to_owned(),
        };
        let _ = write!(text, "\n    {}  {} ({role})", account.personal_id, account.name);
    }
    let _ = write!(
        text,
        "\n  OpenID provider: {}/.well-known/openid-configuration (public demo client `{DEMO_CLIENT_ID}`, redirect {DEMO_CLIENT_REDIRECT})",
        config.public_url
    );
    Ok(text)
}

/// The demo federation's X-Road instance.
pub const DEMO_INSTANCE: &str = "VN";
/// The demo one-stop shop's subsystem (of the provincial People's
/// Committee), as it calls the registry through the gateway.
pub const DEMO_ONESTOP_CLIENT: &str = "VN/GOV/000.00.00.H24/onestop";
/// The population registry's subsystem: the provincial police keep it.
pub const DEMO_REGISTRY_SUBSYSTEM: &str = "VN/GOV/000.05.00.H24/registry";
/// The service that reads the population registry.
pub const DEMO_POPULATION_SERVICE: &str = "VN/GOV/000.05.00.H24/registry/population";
/// The purposes it may read the population registry for.
pub const DEMO_ONESTOP_PURPOSES: [&str; 2] = ["onestop-prefill", "onestop-verify"];
/// How many generated persons the demo loads, and from which seed.
const DEMO_PERSONS: usize = 2_000;
const DEMO_SEED: u64 = 2026;

/// Creates the shipped datasets, the demo persons (once: a second start
/// finds them and writes nothing) and the demo client's purposes, and
/// returns the text to print.
pub async fn load_registry(db: &egov_db::Db, config: &AppConfig) -> Result<String, egov_registry::RegistryError> {
    use egov_registry::domain::POPULATION;
    use egov_registry::generate;

    let registry = crate::app::registry(db, config);
    registry.ensure_shipped().await?;
    for purpose in DEMO_ONESTOP_PURPOSES {
        registry
            .grant_purpose(DEMO_ONESTOP_CLIENT, POPULATION, purpose, "system:demo")
            .await?;
    }
    let loaded = registry.count(POPULATION).await?;
    if usize::try_from(loaded).unwrap_or(0) < DEMO_PERSONS {
        let schema = registry.schema(POPULATION).await?;
        let mut lines: Vec<(u64, serde_json::Map<String, serde_json::Value>)> =
            generate::persons(DEMO_SEED, DEMO_PERSONS)
                .iter()
                .zip(1..)
                .map(|(person, line)| (line, person.content()))
                .collect();
        for (account, line) in ACCOUNTS.iter().zip(lines.len() as u64 + 1..) {
            if let Ok(personal_id) = egov_core::personal_id::PersonalId::parse(account.personal_id) {
                let person = generate::person_for(&personal_id, account.name, DEMO_SEED + line);
                lines.push((line, person.content()));
            }
        }
        let mut report = egov_registry::ImportReport::default();
        registry.upsert_many(&schema, lines, "system:demo", &mut report).await?;
        for (line, error) in &report.errors {
            tracing::warn!(line, %error, "A demo person was not loaded");
        }
    }
    let persons = registry.count(POPULATION).await?;
    Ok(format!(
        "  Population registry: {persons} persons, read by `{DEMO_ONESTOP_CLIENT}` for {}; each citizen sees who read their data at {}/portal/my-data-usage",
        DEMO_ONESTOP_PURPOSES.join(", "),
        config.public_url
    ))
}

/// Registers the demo's subsystems at the gateway: the population
/// registry's reading service, provided by the police's subsystem, which
/// the one-stop shop may call (each time a change, so a second start
/// writes the same again).
pub async fn load_gateway(db: &egov_db::Db) -> Result<String, egov_gateway::admin::AdminError> {
    use egov_gateway::admin::{self, Connection, ServiceSpec};
    use egov_gateway::id::{ClientId, ServiceId};

    let registry = ClientId::parse(DEMO_REGISTRY_SUBSYSTEM)?;
    let onestop = ClientId::parse(DEMO_ONESTOP_CLIENT)?;
    let population = ServiceId::parse(DEMO_POPULATION_SERVICE)?;
    if egov_gateway::store::services(db).await?.is_empty() {
        admin::add_subsystem(
            db,
            "system:demo",
            &registry,
            "Cơ sở dữ liệu dân cư (Công an tỉnh)",
            Connection::Loopback,
        )
        .await?;
        admin::add_subsystem(
            db,
            "system:demo",
            &onestop,
            "Hệ thống một cửa điện tử tỉnh",
            Connection::Loopback,
        )
        .await?;
        let version = "1.0";
        admin::add_service(
            db,
            "system:demo",
            &ServiceSpec {
                service: population.clone(),
                target: format!("local:registry/registry/data/population/{version}"),
                openapi: Some(egov_registry::openapi::reading_service("population", version)),
                timeout_ms: 10_000,
            },
        )
        .await?;
        admin::grant(db, "system:demo", &population, &onestop).await?;
    }
    Ok(format!(
        "  Gateway (X-Road REST r1): {DEMO_ONESTOP_CLIENT} may call {DEMO_POPULATION_SERVICE}; see the README for a curl example"
    ))
}

/// The national public service portal's subsystem (of the Government
/// Office) and its service that takes dossier status reports.
pub const DEMO_NATIONAL_PORTAL: &str = "VN/GOV/000.00.00.G22/national-portal";
pub const DEMO_NATIONAL_SERVICE: &str = "VN/GOV/000.00.00.G22/national-portal/national-index";

/// Registers the national portal's index at the gateway (the hub holds
/// it) and lets `client` report to it.
pub async fn load_national_portal(db: &egov_db::Db, client: &str) -> Result<(), egov_gateway::admin::AdminError> {
    use egov_gateway::admin::{self, Connection, ServiceSpec};
    use egov_gateway::id::{ClientId, ServiceId};

    let portal = ClientId::parse(DEMO_NATIONAL_PORTAL)?;
    let service = ServiceId::parse(DEMO_NATIONAL_SERVICE)?;
    admin::add_subsystem(
        db,
        "system:demo",
        &portal,
        "Cổng Dịch vụ công quốc gia",
        Connection::Loopback,
    )
    .await?;
    admin::add_service(
        db,
        "system:demo",
        &ServiceSpec {
            service: service.clone(),
            target: format!("local:{}/national", egov_gateway::national::LOCAL_SERVICE),
            openapi: None,
            timeout_ms: 10_000,
        },
    )
    .await?;
    admin::grant(db, "system:demo", &service, &ClientId::parse(client)?).await
}

/// The demo's gateway, as it is known in the federation of its own hub.
pub const DEMO_GATEWAY: &str = "VN/GOV/000.00.00.H24/gw1";

/// The demo holds both roles: it is the hub of the federation `VN`, with
/// the province's People's Committee and police as members, and its
/// gateway joins that federation (in process), its provider side listening
/// at `address`. A second start finds it all done.
pub async fn load_federation(db: &egov_db::Db, config: &AppConfig, address: &str) -> anyhow::Result<String> {
    use anyhow::Context as _;
    use egov_gateway::id::ClientId;
    use egov_gateway::{federation, hub};

    let now = config.clock.now();
    if !hub::is_hub(db).await? {
        hub::init(db, "system:demo", DEMO_INSTANCE, now).await?;
        for (member, name) in [
            ("VN/GOV/000.00.00.H24", "Ủy ban nhân dân tỉnh Bắc Ninh"),
            ("VN/GOV/000.05.00.H24", "Công an tỉnh Bắc Ninh"),
            ("VN/GOV/000.00.00.G22", "Văn phòng Chính phủ"),
        ] {
            hub::add_member(db, "system:demo", &ClientId::parse(member)?, name, now).await?;
        }
    }
    load_national_portal(db, DEMO_ONESTOP_CLIENT).await?;
    let gateway = ClientId::parse(DEMO_GATEWAY)?;
    federation::join_own_hub(db, &config.public_url, &gateway, address, now)
        .await
        .context("The demo's gateway could not join its own hub")?;
    Ok(format!(
        "  Federation {DEMO_INSTANCE}: this instance is its hub ({url}/hub/v1/configuration) and its gateway {DEMO_GATEWAY} \
         (listClients: {url}/listClients; other gateways call it at {address})",
        url = config.public_url
    ))
}
