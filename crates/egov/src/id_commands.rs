//! `egov id …`: the sign-in service's operator commands. They work on the
//! same database as a running server.

use std::io::Read as _;

use anyhow::Context as _;
use egov_core::clock::{Clock as _, SystemClock};
use egov_id::admin::{self, NewClient, NewUser};
use egov_id::domain::{Role, UserKind};
use egov_id::keys::Algorithm;

use crate::config::Settings;
use crate::node;

/// Options of `egov id client add`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub client_id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub alg: String,
    pub pairwise: bool,
    pub sector_identifier: Option<String>,
    pub jwks_file: Option<std::path::PathBuf>,
    pub backchannel_logout_uri: Option<String>,
}

pub async fn add_client(settings: &Settings, options: &ClientOptions) -> anyhow::Result<()> {
    let db = node::connect(settings).await?;
    db.migrate().await.context("Failed to migrate the database")?;
    let signing_alg = Algorithm::parse(&options.alg)
        .with_context(|| format!("--alg: `{}` is not RS256, ES256 or EdDSA", options.alg))?;
    let mut client = NewClient::web(
        &options.client_id,
        options.name.as_deref().unwrap_or(&options.client_id),
        "",
    );
    client.redirect_uris.clone_from(&options.redirect_uris);
    client
        .post_logout_redirect_uris
        .clone_from(&options.post_logout_redirect_uris);
    client.public = options.public;
    client.signing_alg = signing_alg;
    client.pairwise = options.pairwise;
    client.sector_identifier.clone_from(&options.sector_identifier);
    client
        .backchannel_logout_uri
        .clone_from(&options.backchannel_logout_uri);
    if let Some(path) = &options.jwks_file {
        let jwks =
            std::fs::read_to_string(path).with_context(|| format!("--jwks-file: cannot read {}", path.display()))?;
        client.jwks = Some(jwks);
    }
    if !options.scopes.is_empty() {
        client.scopes = options
            .scopes
            .iter()
            .flat_map(|scope| scope.split_whitespace())
            .map(str::to_owned)
            .collect();
        if !client.scopes.iter().any(|scope| scope == "openid") {
            client.scopes.insert(0, "openid".to_owned());
        }
    }
    if !options.grant_types.is_empty() {
        client.grant_types.clone_from(&options.grant_types);
    }
    let secret = admin::add_client(&db, &client, &operator(), SystemClock.now()).await?;
    db.close().await;
    println!("Registered client `{}`.", client.client_id);
    if let Some(secret) = secret {
        println!("client_secret: {secret}");
        println!("Keep the secret now: only its hash is stored.");
    }
    Ok(())
}

/// Options of `egov id user add`.
#[derive(Debug, Clone)]
pub struct UserOptions {
    pub personal_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub birthdate: Option<String>,
    pub official: bool,
    pub agency: Option<String>,
    pub department: Option<String>,
    pub roles: Vec<String>,
}

pub async fn add_user(settings: &Settings, options: &UserOptions) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("Failed to read the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    let roles = options
        .roles
        .iter()
        .map(|role| {
            Role::parse(role).with_context(|| {
                format!("--role: `{role}` is not one of receiver, specialist, leader, agency_admin, platform_admin")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let db = node::connect(settings).await?;
    db.migrate().await.context("Failed to migrate the database")?;
    if let Some(agency) = &options.agency {
        let known = egov_onestop::directory::store::agencies(&db).await?;
        anyhow::ensure!(
            known.iter().any(|known| &known.code == agency),
            "--agency: `{agency}` is not a known agency"
        );
        if let Some(department) = &options.department {
            let departments = egov_onestop::directory::store::departments(&db, agency).await?;
            anyhow::ensure!(
                departments.iter().any(|known| &known.code == department),
                "--department: `{department}` is not a department of {agency}"
            );
        }
    }
    let user = NewUser {
        kind: if options.official {
            UserKind::Official
        } else {
            UserKind::Citizen
        },
        personal_id: options.personal_id.clone(),
        full_name: options.name.clone(),
        email: options.email.clone(),
        phone_number: options.phone.clone(),
        birthdate: options.birthdate.clone(),
        gender: None,
        agency_code: options.agency.clone(),
        department: options.department.clone(),
        roles,
    };
    let id = admin::add_user(
        &db,
        &node::password_hasher(),
        &user,
        password,
        &operator(),
        SystemClock.now(),
    )
    .await?;
    db.close().await;
    println!(
        "Created {} account {id} for {}.",
        user.kind.as_str(),
        user.full_name.trim()
    );
    Ok(())
}

pub async fn rotate_key(settings: &Settings, alg: &str) -> anyhow::Result<()> {
    let alg = Algorithm::parse(alg).with_context(|| format!("--alg: `{alg}` is not RS256, ES256 or EdDSA"))?;
    let db = node::connect(settings).await?;
    db.migrate().await.context("Failed to migrate the database")?;
    let provider = egov_id::Provider::new(
        db.clone(),
        std::sync::Arc::new(SystemClock),
        node::password_hasher(),
        egov_id::IdConfig::new(&settings.server.public_url),
    );
    provider.ensure_keys().await?;
    println!("{}", provider.rotate_key(alg).await?);
    db.close().await;
    Ok(())
}

fn operator() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".to_owned())
    )
}

/// Options of `egov id upstream add`.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

pub async fn add_upstream(settings: &Settings, options: &UpstreamOptions) -> anyhow::Result<()> {
    let mut secret = String::new();
    std::io::stdin()
        .read_to_string(&mut secret)
        .context("Failed to read the client secret from standard input")?;
    let db = node::connect(settings).await?;
    db.migrate().await.context("Failed to migrate the database")?;
    let upstream = egov_id::admin::NewUpstream {
        id: options.id.clone(),
        name: options.name.clone(),
        issuer: options.issuer.clone(),
        client_id: options.client_id.clone(),
        client_secret: secret.trim_end_matches(['\n', '\r']).to_owned(),
        scopes: options.scopes.clone(),
    };
    admin::add_upstream(&db, &upstream, &operator(), SystemClock.now()).await?;
    db.close().await;
    println!("Registered upstream `{}`.", options.id);
    println!(
        "Its sign-in button appears on the sign-in page. Redirect URI to register at the upstream: {}/oauth/upstream/callback",
        settings.server.public_url.trim_end_matches('/')
    );
    Ok(())
}
