//! The demo's accounts and clients: a citizen, one official per role, and
//! a demo relying party, created once and printed at every start.

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
