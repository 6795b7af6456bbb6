//! Account administration by administrators: search, lock, unlock, and
//! reset second factors. A platform admin manages every account; an agency
//! admin only the officials of their own agency (never a platform admin,
//! never themselves). Every change is audited and ends the account's
//! sessions and tokens where it should.

use egov_db::audit::{self, AuditEntry};
use serde_json::json;
use uuid::Uuid;

use crate::account::Origin;
use crate::domain::{Role, UserKind, parse_roles};
use crate::provider::{IdError, Provider};
use crate::store::{self, UserRow};

/// Why an administrative action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The actor is no administrator, or the account is outside their scope.
    #[error("not allowed")]
    Forbidden,
    #[error("no such account")]
    NotFound,
    #[error(transparent)]
    Id(#[from] IdError),
}

impl From<egov_db::DbError> for ManageError {
    fn from(error: egov_db::DbError) -> Self {
        ManageError::Id(IdError::Db(error))
    }
}

fn roles_of(user: &UserRow) -> Vec<Role> {
    parse_roles(&user.roles).unwrap_or_default()
}

/// Whether `user` administers the sign-in service itself (clients, keys,
/// upstream providers): platform administrators only.
pub fn is_platform_administrator(user: &UserRow) -> bool {
    !user.locked && roles_of(user).contains(&Role::PlatformAdmin)
}

/// Whether `user` administers accounts at all.
pub fn is_administrator(user: &UserRow) -> bool {
    !user.locked
        && roles_of(user)
            .iter()
            .any(|role| matches!(role, Role::AgencyAdmin | Role::PlatformAdmin))
}

/// Whether `actor` may act on `target`.
pub fn may_manage(actor: &UserRow, target: &UserRow) -> bool {
    if actor.id == target.id || actor.locked {
        return false;
    }
    let actor_roles = roles_of(actor);
    if actor_roles.contains(&Role::PlatformAdmin) {
        return true;
    }
    actor_roles.contains(&Role::AgencyAdmin)
        && target.kind == UserKind::Official.as_str()
        && actor.agency_code.is_some()
        && target.agency_code == actor.agency_code
        && !roles_of(target).contains(&Role::PlatformAdmin)
}

/// The administrative actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Lock,
    Unlock,
    ResetFactors,
}

impl Action {
    pub fn parse(value: &str) -> Option<Action> {
        match value {
            "lock" => Some(Action::Lock),
            "unlock" => Some(Action::Unlock),
            "reset-factors" => Some(Action::ResetFactors),
            _ => None,
        }
    }

    fn audit_action(self) -> &'static str {
        match self {
            Action::Lock => "id.user.lock",
            Action::Unlock => "id.user.unlock",
            Action::ResetFactors => "id.user.reset_factors",
        }
    }
}

impl Provider {
    /// Accounts the actor may manage, matching `query` (personal ID or
    /// e-mail prefix, or words of the name without regard to diacritics),
    /// at most `limit`, by name.
    pub async fn admin_search(&self, actor: &UserRow, query: &str, limit: u32) -> Result<Vec<UserRow>, ManageError> {
        if !is_administrator(actor) {
            return Err(ManageError::Forbidden);
        }
        let agency = if roles_of(actor).contains(&Role::PlatformAdmin) {
            None
        } else {
            Some(actor.agency_code.as_deref().ok_or(ManageError::Forbidden)?)
        };
        let query = query.trim();
        let folded = egov_core::text::fold(query);
        let rows = store::search_users(self.db(), query, &folded, agency, limit).await?;
        Ok(rows.into_iter().filter(|user| may_manage(actor, user)).collect())
    }

    /// Locks, unlocks or resets the second factors of `target_id`. Locking
    /// and resetting end the account's sessions and tokens.
    pub async fn admin_act(
        &self,
        actor: &UserRow,
        target_id: Uuid,
        action: Action,
        origin: Origin<'_>,
    ) -> Result<UserRow, ManageError> {
        if !is_administrator(actor) {
            return Err(ManageError::Forbidden);
        }
        let target = store::user_by_id(self.db(), target_id)
            .await?
            .ok_or(ManageError::NotFound)?;
        if !may_manage(actor, &target) {
            return Err(ManageError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.db().begin().await?;
        let ended = match action {
            Action::Lock => {
                store::set_locked(&mut tx, target.id, true, now.timestamp_millis()).await?;
                store::revoke_user_sessions(&mut tx, target.id, None, now).await?
            }
            Action::Unlock => {
                store::set_locked(&mut tx, target.id, false, now.timestamp_millis()).await?;
                0
            }
            Action::ResetFactors => {
                store::clear_second_factors(&mut tx, target.id).await?;
                store::revoke_user_sessions(&mut tx, target.id, None, now).await?
            }
        };
        let actor_subject = format!("user:{}", actor.id);
        let entry = AuditEntry {
            actor: &actor_subject,
            action: action.audit_action(),
            subject: &format!("user:{}", target.id),
            detail: json!({ "user_agent": origin.user_agent, "sessions_ended": ended }),
            ip: origin.ip,
        };
        audit::record(&mut tx, &entry, now).await?;
        tx.commit().await?;
        store::user_by_id(self.db(), target.id)
            .await?
            .ok_or(ManageError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(kind: &str, agency: Option<&str>, roles: &str) -> UserRow {
        UserRow {
            id: egov_core::id::new_id(),
            kind: kind.to_owned(),
            personal_id: "001090012345".to_owned(),
            full_name: "X".to_owned(),
            email: None,
            email_verified: false,
            phone_number: None,
            birthdate: None,
            gender: None,
            agency_code: agency.map(str::to_owned),
            department: None,
            roles: roles.to_owned(),
            password_hash: None,
            locked: false,
        }
    }

    #[test]
    fn an_agency_admin_manages_only_the_officials_of_their_agency() {
        let admin = user("official", Some("000.00.01.H24"), "agency_admin");
        assert!(may_manage(&admin, &user("official", Some("000.00.01.H24"), "receiver")));
        assert!(may_manage(
            &admin,
            &user("official", Some("000.00.01.H24"), "agency_admin")
        ));
        assert!(!may_manage(
            &admin,
            &user("official", Some("000.00.02.H24"), "receiver")
        ));
        assert!(!may_manage(&admin, &user("citizen", None, "")));
        assert!(!may_manage(
            &admin,
            &user("official", Some("000.00.01.H24"), "platform_admin")
        ));
        assert!(!may_manage(&admin, &admin), "nobody locks themselves out");
    }

    #[test]
    fn a_platform_admin_manages_everyone_else_and_others_no_one() {
        let platform = user("official", Some("000.00.00.H24"), "platform_admin");
        assert!(may_manage(&platform, &user("citizen", None, "")));
        assert!(may_manage(
            &platform,
            &user("official", Some("000.00.02.H24"), "agency_admin")
        ));
        let receiver = user("official", Some("000.00.01.H24"), "receiver");
        assert!(!is_administrator(&receiver));
        assert!(!may_manage(
            &receiver,
            &user("official", Some("000.00.01.H24"), "specialist")
        ));
        let locked = UserRow {
            locked: true,
            ..platform
        };
        assert!(!is_administrator(&locked));
    }
}
