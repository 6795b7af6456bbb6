//! SQL of dossiers: `procedure_versions`, `dossiers`, `dossier_events`,
//! `dossier_counters`, `stored_files` and `dossier_documents`.

use std::fmt::Write as _;

use egov_db::{Db, DbError, Tx, with_pool, with_tx};
use uuid::Uuid;

/// A procedure version as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub procedure_code: String,
    pub version: i32,
    pub effective_from: i64,
    pub form_schema: String,
    pub fee_vnd: i64,
    pub online_fee_vnd: i64,
    pub processing_days: i32,
    pub workflow: String,
    pub published_at: i64,
    pub published_by: String,
}

const VERSION_COLUMNS: &str = "procedure_code, version, effective_from, form_schema, fee_vnd, online_fee_vnd, \
                               processing_days, workflow, published_at, published_by";

#[tracing::instrument(skip_all, fields(procedure = %row.procedure_code, version = row.version))]
pub async fn insert_version(tx: &mut Tx, row: &VersionRow) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO procedure_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(&row.procedure_code)
        .bind(row.version)
        .bind(row.effective_from)
        .bind(&row.form_schema)
        .bind(row.fee_vnd)
        .bind(row.online_fee_vnd)
        .bind(row.processing_days)
        .bind(&row.workflow)
        .bind(row.published_at)
        .bind(&row.published_by)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn last_version_number(tx: &mut Tx, procedure_code: &str) -> Result<i32, DbError> {
    let last: Option<i32> = with_tx!(tx, conn => {
        sqlx::query_scalar("SELECT MAX(version) FROM procedure_versions WHERE procedure_code = $1")
            .bind(procedure_code)
            .fetch_one(&mut *conn)
            .await?
    });
    Ok(last.unwrap_or(0))
}

/// Every published version of a procedure with when it takes effect
/// (version, effective from), by version.
pub async fn version_schedule(db: &Db, procedure_code: &str) -> Result<Vec<(i32, i64)>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT version, effective_from FROM procedure_versions WHERE procedure_code = $1 ORDER BY version",
        )
        .bind(procedure_code)
        .fetch_all(pool)
        .await?
    }))
}

pub async fn version(db: &Db, procedure_code: &str, version: i32) -> Result<Option<VersionRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM procedure_versions WHERE procedure_code = $1 AND version = $2"
        )))
        .bind(procedure_code)
        .bind(version)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn versions(db: &Db, procedure_code: &str) -> Result<Vec<VersionRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM procedure_versions WHERE procedure_code = $1 ORDER BY version"
        )))
        .bind(procedure_code)
        .fetch_all(pool)
        .await?
    }))
}

/// A dossier as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DossierRow {
    pub id: Uuid,
    pub code: String,
    pub procedure_code: String,
    pub procedure_version: i32,
    pub agency_code: String,
    pub holder_agency: String,
    pub channel: String,
    pub applicant_subject: String,
    pub applicant_name: String,
    pub applicant_personal_id: Option<String>,
    pub applicant_email: Option<String>,
    pub idempotency_key: String,
    pub form_data: String,
    pub state: String,
    pub step: i32,
    pub resume_state: Option<String>,
    pub assignee: Option<String>,
    pub fee_vnd: i64,
    pub submitted_at: i64,
    pub received_at: Option<i64>,
    pub due_at: Option<i64>,
    pub paused_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub late: Option<bool>,
    pub revision: i32,
    pub search_text: String,
    pub fee_paid_vnd: i64,
    pub assignee_name: Option<String>,
    /// The department of the current step at the holder, if any.
    pub department: Option<String>,
}

const DOSSIER_COLUMNS: &str = "id, code, procedure_code, procedure_version, agency_code, holder_agency, channel, \
     applicant_subject, applicant_name, applicant_personal_id, applicant_email, idempotency_key, form_data, state, \
     step, resume_state, assignee, fee_vnd, submitted_at, received_at, due_at, paused_at, finished_at, late, \
     revision, search_text, fee_paid_vnd, assignee_name, department";

#[tracing::instrument(skip_all, fields(dossier = %row.code))]
pub async fn insert_dossier(tx: &mut Tx, row: &DossierRow) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO dossiers ({DOSSIER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)"
        )))
        .bind(row.id)
        .bind(&row.code)
        .bind(&row.procedure_code)
        .bind(row.procedure_version)
        .bind(&row.agency_code)
        .bind(&row.holder_agency)
        .bind(&row.channel)
        .bind(&row.applicant_subject)
        .bind(&row.applicant_name)
        .bind(row.applicant_personal_id.as_deref())
        .bind(row.applicant_email.as_deref())
        .bind(&row.idempotency_key)
        .bind(&row.form_data)
        .bind(&row.state)
        .bind(row.step)
        .bind(row.resume_state.as_deref())
        .bind(row.assignee.as_deref())
        .bind(row.fee_vnd)
        .bind(row.submitted_at)
        .bind(row.received_at)
        .bind(row.due_at)
        .bind(row.paused_at)
        .bind(row.finished_at)
        .bind(row.late)
        .bind(row.revision)
        .bind(&row.search_text)
        .bind(row.fee_paid_vnd)
        .bind(row.assignee_name.as_deref())
        .bind(row.department.as_deref())
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// The dossier an applicant already submitted with this idempotency key.
pub async fn by_idempotency_key(tx: &mut Tx, subject: &str, key: &str) -> Result<Option<String>, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query_scalar("SELECT code FROM dossiers WHERE applicant_subject = $1 AND idempotency_key = $2")
            .bind(subject)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?
    }))
}

/// Takes the next sequence number of the day for an agency's codes.
pub async fn next_sequence(tx: &mut Tx, agency_code: &str, day: &str) -> Result<i64, DbError> {
    let last: i64 = with_tx!(tx, conn => {
        sqlx::query_scalar(
            "INSERT INTO dossier_counters (agency_code, day, last_sequence) VALUES ($1, $2, 1) \
             ON CONFLICT (agency_code, day) DO UPDATE SET last_sequence = dossier_counters.last_sequence + 1 \
             RETURNING CAST(last_sequence AS BIGINT)",
        )
        .bind(agency_code)
        .bind(day)
        .fetch_one(&mut *conn)
        .await?
    });
    Ok(last)
}

pub async fn by_code(db: &Db, code: &str) -> Result<Option<DossierRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE code = $1")))
            .bind(code)
            .fetch_optional(pool)
            .await?
    }))
}

/// What a transition writes.
#[derive(Debug, Clone)]
pub struct Change {
    pub state: &'static str,
    pub step: i32,
    pub resume_state: Option<&'static str>,
    pub holder_agency: String,
    pub department: Option<String>,
    pub assignee: Option<String>,
    pub received_at: Option<i64>,
    pub due_at: Option<i64>,
    pub paused_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub late: Option<bool>,
    /// Added to the dossier's count of supplement requests.
    pub supplement_requests: i32,
    /// Added to its count of transfers to another agency.
    pub transfers: i32,
}

/// Writes a transition if the dossier is still at `revision`; returns
/// whether it was (otherwise another action won the race).
#[tracing::instrument(skip_all, fields(dossier = %id, revision))]
pub async fn update_situation(tx: &mut Tx, id: Uuid, revision: i32, change: &Change) -> Result<bool, DbError> {
    let updated = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE dossiers SET state = $1, step = $2, resume_state = $3, holder_agency = $4, assignee = $5, \
             received_at = $6, due_at = $7, paused_at = $8, finished_at = $9, late = $10, revision = revision + 1, \
             supplements = supplements + $13, transfers = transfers + $14, department = $15 \
             WHERE id = $11 AND revision = $12",
        )
        .bind(change.state)
        .bind(change.step)
        .bind(change.resume_state)
        .bind(&change.holder_agency)
        .bind(change.assignee.as_deref())
        .bind(change.received_at)
        .bind(change.due_at)
        .bind(change.paused_at)
        .bind(change.finished_at)
        .bind(change.late)
        .bind(id)
        .bind(revision)
        .bind(change.supplement_requests)
        .bind(change.transfers)
        .bind(change.department.as_deref())
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(updated == 1)
}

/// Records the applicant's rating of a finished dossier.
pub async fn rate(tx: &mut Tx, id: Uuid, rating: i32, comment: &str) -> Result<bool, DbError> {
    let updated = with_tx!(tx, conn => {
        sqlx::query("UPDATE dossiers SET rating = $1, rating_comment = $2, revision = revision + 1 WHERE id = $3")
            .bind(rating)
            .bind(comment)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(updated == 1)
}

/// Moves the appointment (Form 04) if the dossier is still at `revision`.
pub async fn set_due(tx: &mut Tx, id: Uuid, revision: i32, due_at: i64) -> Result<bool, DbError> {
    let updated = with_tx!(tx, conn => {
        sqlx::query("UPDATE dossiers SET due_at = $1, revision = revision + 1 WHERE id = $2 AND revision = $3")
            .bind(due_at)
            .bind(id)
            .bind(revision)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(updated == 1)
}

/// Assigns the dossier to an official (`subject`, `name`), or to nobody,
/// if it is still at `revision`; the revision moves, so the assignment
/// races actions like any change.
pub async fn set_assignee(
    tx: &mut Tx,
    id: Uuid,
    revision: i32,
    assignee: Option<(&str, &str)>,
) -> Result<bool, DbError> {
    let updated = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE dossiers SET assignee = $1, assignee_name = $2, revision = revision + 1 \
             WHERE id = $3 AND revision = $4",
        )
            .bind(assignee.map(|(subject, _)| subject))
            .bind(assignee.map(|(_, name)| name))
            .bind(id)
            .bind(revision)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(updated == 1)
}

/// Whether `subject` wrote a line of the dossier's step log.
pub async fn has_acted(db: &Db, dossier_id: Uuid, subject: &str) -> Result<bool, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar::<_, i32>("SELECT 1 FROM dossier_events WHERE dossier_id = $1 AND actor = $2 LIMIT 1")
            .bind(dossier_id)
            .bind(subject)
            .fetch_optional(pool)
            .await?
            .is_some()
    }))
}

/// One line of the step log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub dossier_id: Uuid,
    pub at: i64,
    pub actor: String,
    pub actor_name: String,
    pub agency_code: Option<String>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub step: i32,
    pub note: String,
}

/// Appends a step-log line.
pub async fn insert_event(tx: &mut Tx, row: &EventRow) -> Result<(), DbError> {
    insert_events(tx, &[row]).await
}

/// Appends many step-log lines in one statement (the action writer's
/// batch).
pub async fn insert_events(tx: &mut Tx, rows: &[&EventRow]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    with_tx!(tx, conn => {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO dossier_events (id, dossier_id, at, actor, actor_name, agency_code, action, from_state, \
             to_state, step, note) ",
        );
        insert.push_values(rows, |mut values, row| {
            values
                .push_bind(row.id)
                .push_bind(row.dossier_id)
                .push_bind(row.at)
                .push_bind(row.actor.as_str())
                .push_bind(row.actor_name.as_str())
                .push_bind(row.agency_code.as_deref())
                .push_bind(row.action.as_str())
                .push_bind(row.from_state.as_deref())
                .push_bind(row.to_state.as_str())
                .push_bind(row.step)
                .push_bind(row.note.as_str());
        });
        insert.build().execute(&mut *conn).await?;
    });
    Ok(())
}

pub async fn events(db: &Db, dossier_id: Uuid) -> Result<Vec<EventRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, dossier_id, at, actor, actor_name, agency_code, action, from_state, to_state, step, note \
             FROM dossier_events WHERE dossier_id = $1 ORDER BY at, id",
        )
        .bind(dossier_id)
        .fetch_all(pool)
        .await?
    }))
}

/// Keeps a file's content once, whoever uploads it again.
pub async fn insert_file(
    tx: &mut Tx,
    sha256: &str,
    media_type: &str,
    content: &[u8],
    now_ms: i64,
) -> Result<(), DbError> {
    let size = i64::try_from(content.len()).unwrap_or(i64::MAX);
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO stored_files (sha256, media_type, size, content, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(media_type)
        .bind(size)
        .bind(content)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn file_content(db: &Db, sha256: &str) -> Result<Option<Vec<u8>>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar("SELECT content FROM stored_files WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(pool)
            .await?
    }))
}

/// A document attached to a dossier.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRow {
    pub id: Uuid,
    pub dossier_id: Uuid,
    pub slot: String,
    pub sha256: String,
    pub file_name: String,
    pub media_type: String,
    pub size: i64,
    /// Kept by officials for themselves, not shown to the applicant.
    pub internal: bool,
    pub added_by: String,
    pub added_at: i64,
}

pub async fn insert_document(tx: &mut Tx, row: &DocumentRow) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO dossier_documents (id, dossier_id, slot, sha256, file_name, media_type, size, internal, \
             added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(row.id)
        .bind(row.dossier_id)
        .bind(&row.slot)
        .bind(&row.sha256)
        .bind(&row.file_name)
        .bind(&row.media_type)
        .bind(row.size)
        .bind(row.internal)
        .bind(&row.added_by)
        .bind(row.added_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn documents(db: &Db, dossier_id: Uuid) -> Result<Vec<DocumentRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, dossier_id, slot, sha256, file_name, media_type, size, internal, added_by, added_at \
             FROM dossier_documents WHERE dossier_id = $1 ORDER BY added_at, id",
        )
        .bind(dossier_id)
        .fetch_all(pool)
        .await?
    }))
}

/// What a back-office queue shows.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub states: Vec<String>,
    /// Folded words that must all appear in the search text.
    pub words: Vec<String>,
    pub procedure_code: Option<String>,
    /// Only the dossiers assigned to this official.
    pub assignee: Option<String>,
    /// Only what an official of a department sees: the dossiers at their
    /// department's steps, those at no department's, and those assigned to
    /// them (department code, subject).
    pub within_department: Option<(String, String)>,
    /// Only the dossiers at this department's steps.
    pub department: Option<String>,
    pub submitted_from: Option<i64>,
    pub submitted_to: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// The dossiers an agency holds, soonest due first.
pub async fn queue(db: &Db, agency_code: &str, filter: &QueueFilter) -> Result<Vec<DossierRow>, DbError> {
    let mut sql = format!("SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE holder_agency = $1");
    let mut n = 1;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if !filter.states.is_empty() {
        let placeholders: Vec<String> = filter.states.iter().map(|_| next()).collect();
        let _ = write!(sql, " AND state IN ({})", placeholders.join(", "));
    }
    for _ in &filter.words {
        let _ = write!(sql, " AND search_text LIKE {}", next());
    }
    if filter.procedure_code.is_some() {
        let _ = write!(sql, " AND procedure_code = {}", next());
    }
    if filter.assignee.is_some() {
        let _ = write!(sql, " AND assignee = {}", next());
    }
    if filter.within_department.is_some() {
        let (department, subject) = (next(), next());
        let _ = write!(
            sql,
            " AND (department IS NULL OR department = {department} OR assignee = {subject})"
        );
    }
    if filter.department.is_some() {
        let _ = write!(sql, " AND department = {}", next());
    }
    if filter.submitted_from.is_some() {
        let _ = write!(sql, " AND submitted_at >= {}", next());
    }
    if filter.submitted_to.is_some() {
        let _ = write!(sql, " AND submitted_at < {}", next());
    }
    let _ = write!(sql, " ORDER BY due_at, code LIMIT {} OFFSET {}", next(), next());
    Ok(with_pool!(db, pool => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(agency_code);
        for state in &filter.states {
            query = query.bind(state);
        }
        for word in &filter.words {
            query = query.bind(format!("%{word}%"));
        }
        if let Some(code) = &filter.procedure_code {
            query = query.bind(code);
        }
        if let Some(assignee) = &filter.assignee {
            query = query.bind(assignee);
        }
        if let Some((department, subject)) = &filter.within_department {
            query = query.bind(department).bind(subject);
        }
        if let Some(department) = &filter.department {
            query = query.bind(department);
        }
        if let Some(from) = filter.submitted_from {
            query = query.bind(from);
        }
        if let Some(to) = filter.submitted_to {
            query = query.bind(to);
        }
        query.bind(filter.limit).bind(filter.offset).fetch_all(pool).await?
    }))
}

/// An applicant's own dossiers, newest first.
pub async fn for_applicant(db: &Db, subject: &str, limit: i64) -> Result<Vec<DossierRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE applicant_subject = $1 ORDER BY submitted_at DESC LIMIT $2"
        )))
        .bind(subject)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// Saves (or replaces) an applicant's draft of a procedure's form.
pub async fn save_draft(
    db: &Db,
    subject: &str,
    procedure_code: &str,
    agency_code: &str,
    form_data: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO dossier_drafts (applicant_subject, procedure_code, agency_code, form_data, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (applicant_subject, procedure_code) \
             DO UPDATE SET agency_code = excluded.agency_code, form_data = excluded.form_data, updated_at = excluded.updated_at",
        )
        .bind(subject)
        .bind(procedure_code)
        .bind(agency_code)
        .bind(form_data)
        .bind(now_ms)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// An applicant's draft: the agency chosen and the values typed.
pub async fn draft(db: &Db, subject: &str, procedure_code: &str) -> Result<Option<(String, String)>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT agency_code, form_data FROM dossier_drafts WHERE applicant_subject = $1 AND procedure_code = $2",
        )
        .bind(subject)
        .bind(procedure_code)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn delete_draft(tx: &mut Tx, subject: &str, procedure_code: &str) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("DELETE FROM dossier_drafts WHERE applicant_subject = $1 AND procedure_code = $2")
            .bind(subject)
            .bind(procedure_code)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Counts of one agency's dossiers of one procedure, submitted in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct CountsRow {
    pub agency_code: String,
    pub procedure_code: String,
    pub received: i64,
    pub online: i64,
    pub done_on_time: i64,
    pub done_late: i64,
    pub pending: i64,
    pub pending_late: i64,
    /// Dossiers that were asked for a supplement at least once.
    pub supplemented: i64,
    pub refused: i64,
    pub withdrawn: i64,
    pub stopped: i64,
    /// Dossiers exchanged with another agency (liên thông), all over the
    /// network here.
    pub transferred: i64,
    pub fees_vnd: i64,
    pub ratings: i64,
    pub rating_sum: i64,
}

/// Counts per agency and procedure of the dossiers submitted in
/// `[from_ms, to_ms)`, for one agency or all. Reads only the
/// `dossiers_counts` index, in its order, so the groups stream.
pub async fn counts(
    db: &Db,
    agency_code: Option<&str>,
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
) -> Result<Vec<CountsRow>, DbError> {
    const OPEN: &str = "state NOT IN ('returned', 'refused', 'withdrawn', 'stopped')";
    let sql = format!(
        "SELECT agency_code, procedure_code, COUNT(*) AS received, \
         COALESCE(SUM(CASE WHEN channel = 'online' THEN 1 ELSE 0 END), 0) AS online, \
         COALESCE(SUM(CASE WHEN state = 'returned' AND late = FALSE THEN 1 ELSE 0 END), 0) AS done_on_time, \
         COALESCE(SUM(CASE WHEN state = 'returned' AND late = TRUE THEN 1 ELSE 0 END), 0) AS done_late, \
         COALESCE(SUM(CASE WHEN {OPEN} THEN 1 ELSE 0 END), 0) AS pending, \
         COALESCE(SUM(CASE WHEN {OPEN} AND paused_at IS NULL AND due_at < $3 THEN 1 ELSE 0 END), 0) AS pending_late, \
         COALESCE(SUM(CASE WHEN supplements > 0 THEN 1 ELSE 0 END), 0) AS supplemented, \
         COALESCE(SUM(CASE WHEN state = 'refused' THEN 1 ELSE 0 END), 0) AS refused, \
         COALESCE(SUM(CASE WHEN state = 'withdrawn' THEN 1 ELSE 0 END), 0) AS withdrawn, \
         COALESCE(SUM(CASE WHEN state = 'stopped' THEN 1 ELSE 0 END), 0) AS stopped, \
         COALESCE(SUM(CASE WHEN transfers > 0 THEN 1 ELSE 0 END), 0) AS transferred, \
         CAST(COALESCE(SUM(fee_paid_vnd), 0) AS BIGINT) AS fees_vnd, \
         COUNT(rating) AS ratings, CAST(COALESCE(SUM(rating), 0) AS BIGINT) AS rating_sum \
         FROM dossiers WHERE submitted_at >= $1 AND submitted_at < $2 {} \
         GROUP BY agency_code, procedure_code ORDER BY agency_code, procedure_code",
        if agency_code.is_some() {
            "AND agency_code = $4"
        } else {
            ""
        }
    );
    Ok(with_pool!(db, pool => {
        let query = sqlx::query_as::<_, CountsRow>(sqlx::AssertSqlSafe(sql)).bind(from_ms).bind(to_ms).bind(now_ms);
        let query = match agency_code {
            Some(agency) => query.bind(agency),
            None => query,
        };
        query.fetch_all(pool).await?
    }))
}

/// The dossiers an agency received in a period, in order: the tracking
/// book (Form 07).
pub async fn received_between(
    db: &Db,
    agency_code: &str,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> Result<Vec<DossierRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE agency_code = $1 AND submitted_at >= $2 AND submitted_at < $3 \
             ORDER BY submitted_at, code LIMIT $4"
        )))
        .bind(agency_code)
        .bind(from_ms)
        .bind(to_ms)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// A fee payment of a dossier.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    pub dossier_id: Uuid,
    pub reference: String,
    pub method: String,
    pub amount_vnd: i64,
    pub status: String,
    pub gateway_transaction: Option<String>,
    pub created_at: i64,
    pub settled_at: Option<i64>,
}

const PAYMENT_COLUMNS: &str =
    "id, dossier_id, reference, method, amount_vnd, status, gateway_transaction, created_at, settled_at";

pub async fn insert_payment(tx: &mut Tx, row: &PaymentRow) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO dossier_payments ({PAYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(row.id)
        .bind(row.dossier_id)
        .bind(&row.reference)
        .bind(&row.method)
        .bind(row.amount_vnd)
        .bind(&row.status)
        .bind(row.gateway_transaction.as_deref())
        .bind(row.created_at)
        .bind(row.settled_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn payment_by_reference(db: &Db, reference: &str) -> Result<Option<PaymentRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {PAYMENT_COLUMNS} FROM dossier_payments WHERE reference = $1")))
            .bind(reference)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn payments(db: &Db, dossier_id: Uuid) -> Result<Vec<PaymentRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PAYMENT_COLUMNS} FROM dossier_payments WHERE dossier_id = $1 ORDER BY created_at, id"
        )))
        .bind(dossier_id)
        .fetch_all(pool)
        .await?
    }))
}

/// Settles a pending payment; returns whether it was pending (a replayed
/// confirmation finds it settled and changes nothing).
pub async fn settle_payment(
    tx: &mut Tx,
    reference: &str,
    status: &str,
    gateway_transaction: Option<&str>,
    now_ms: i64,
) -> Result<bool, DbError> {
    let updated = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE dossier_payments SET status = $1, gateway_transaction = $2, settled_at = $3 \
             WHERE reference = $4 AND status = 'pending'",
        )
        .bind(status)
        .bind(gateway_transaction)
        .bind(now_ms)
        .bind(reference)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(updated == 1)
}

/// A dossier's state and step, read in the transaction that changes it.
pub async fn dossier_state(tx: &mut Tx, dossier_id: Uuid) -> Result<(String, i32), DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query_as("SELECT state, step FROM dossiers WHERE id = $1")
            .bind(dossier_id)
            .fetch_one(&mut *conn)
            .await?
    }))
}

/// Adds a settled amount to what the dossier has paid.
pub async fn add_paid(tx: &mut Tx, dossier_id: Uuid, amount_vnd: i64) -> Result<(), DbError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE dossiers SET fee_paid_vnd = fee_paid_vnd + $1, revision = revision + 1 WHERE id = $2")
            .bind(amount_vnd)
            .bind(dossier_id)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Marks a dossier's paid fees as to be refunded (the dossier was refused
/// or stopped); returns how many payments.
pub async fn mark_refund_due(tx: &mut Tx, dossier_id: Uuid) -> Result<u64, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query("UPDATE dossier_payments SET status = 'refund_due' WHERE dossier_id = $1 AND status = 'paid'")
            .bind(dossier_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    }))
}

/// The fee paid so far by a dossier.
pub async fn fee_paid(db: &Db, dossier_id: Uuid) -> Result<i64, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_scalar("SELECT fee_paid_vnd FROM dossiers WHERE id = $1")
            .bind(dossier_id)
            .fetch_one(pool)
            .await?
    }))
}

/// Keeps a bank statement line once; returns whether it was new.
#[allow(clippy::too_many_arguments)] // Every column of the line.
pub async fn insert_statement_line(
    tx: &mut Tx,
    bank_reference: &str,
    value_date: &str,
    amount_vnd: i64,
    note: &str,
    matched_dossier: Option<&str>,
    imported_by: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    let inserted = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO bank_statement_lines (bank_reference, value_date, amount_vnd, note, matched_dossier, imported_by, \
             imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (bank_reference) DO NOTHING",
        )
        .bind(bank_reference)
        .bind(value_date)
        .bind(amount_vnd)
        .bind(note)
        .bind(matched_dossier)
        .bind(imported_by)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(inserted == 1)
}

/// An agency's signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub key_id: String,
    pub agency_code: String,
    pub private_pem: String,
    pub public_pem: String,
    pub created_at: i64,
}

/// The agency's current signing key.
pub async fn signing_key(db: &Db, agency_code: &str) -> Result<Option<SigningKeyRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT key_id, agency_code, private_pem, public_pem, created_at FROM agency_signing_keys \
             WHERE agency_code = $1 AND retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
        )
        .bind(agency_code)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn signing_key_by_id(db: &Db, key_id: &str) -> Result<Option<SigningKeyRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT key_id, agency_code, private_pem, public_pem, created_at FROM agency_signing_keys WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_optional(pool)
        .await?
    }))
}

/// Keeps a new key; returns whether it was new (two nodes may race to make
/// an agency's first key; the loser reads the winner's).
pub async fn insert_signing_key(db: &Db, row: &SigningKeyRow) -> Result<bool, DbError> {
    let inserted = with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO agency_signing_keys (key_id, agency_code, private_pem, public_pem, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(&row.key_id)
        .bind(&row.agency_code)
        .bind(&row.private_pem)
        .bind(&row.public_pem)
        .bind(row.created_at)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(inserted == 1)
}

/// A signed result of a dossier.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResultRow {
    pub id: Uuid,
    pub dossier_id: Uuid,
    pub document_number: String,
    pub sha256: String,
    pub key_id: String,
    pub signature: String,
    pub signed_by: String,
    pub signed_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoked_reason: Option<String>,
}

const RESULT_COLUMNS: &str = "id, dossier_id, document_number, sha256, key_id, signature, signed_by, signed_at, \
                              revoked_at, revoked_by, revoked_reason";

/// Keeps a dossier's result unless it has one; returns whether it was new.
pub async fn insert_result(tx: &mut Tx, row: &ResultRow) -> Result<bool, DbError> {
    let inserted = with_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO dossier_results ({RESULT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL) \
             ON CONFLICT (dossier_id) DO NOTHING"
        )))
        .bind(row.id)
        .bind(row.dossier_id)
        .bind(&row.document_number)
        .bind(&row.sha256)
        .bind(&row.key_id)
        .bind(&row.signature)
        .bind(&row.signed_by)
        .bind(row.signed_at)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(inserted == 1)
}

pub async fn result_of(db: &Db, dossier_id: Uuid) -> Result<Option<ResultRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {RESULT_COLUMNS} FROM dossier_results WHERE dossier_id = $1")))
            .bind(dossier_id)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn result_by_id(db: &Db, id: Uuid) -> Result<Option<ResultRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {RESULT_COLUMNS} FROM dossier_results WHERE id = $1")))
            .bind(id)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn revoke_result(tx: &mut Tx, id: Uuid, by: &str, reason: &str, now_ms: i64) -> Result<bool, DbError> {
    let updated = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE dossier_results SET revoked_at = $1, revoked_by = $2, revoked_reason = $3 \
             WHERE id = $4 AND revoked_at IS NULL",
        )
        .bind(now_ms)
        .bind(by)
        .bind(reason)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(updated == 1)
}

/// The dossier a stored row id belongs to.
pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<DossierRow>, DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {DOSSIER_COLUMNS} FROM dossiers WHERE id = $1")))
            .bind(id)
            .fetch_optional(pool)
            .await?
    }))
}

/// A refund request to the payment gateway for a gateway payment
/// (`dossier_payment_refunds`), named by its `vnp_RequestId`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GatewayRefundRow {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub request_id: String,
    pub amount_vnd: i64,
    /// `sent` (no trusted answer yet), `refunded` or `failed`.
    pub status: String,
    pub response_code: Option<String>,
    pub gateway_transaction: Option<String>,
    pub requested_by: String,
    pub created_at: i64,
    pub settled_at: Option<i64>,
}

const GATEWAY_REFUND_COLUMNS: &str = "id, payment_id, request_id, amount_vnd, status, response_code, \
                                      gateway_transaction, requested_by, created_at, settled_at";

/// The payment's refund request that stands (in flight or done): `row`,
/// unless one stands already, which is returned instead. The partial unique
/// index on `payment_id` makes this safe against a racing request.
#[tracing::instrument(skip_all, fields(payment = %row.payment_id))]
pub async fn open_gateway_refund(tx: &mut Tx, row: &GatewayRefundRow) -> Result<GatewayRefundRow, DbError> {
    Ok(with_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO dossier_payment_refunds ({GATEWAY_REFUND_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"
        )))
        .bind(row.id)
        .bind(row.payment_id)
        .bind(&row.request_id)
        .bind(row.amount_vnd)
        .bind(&row.status)
        .bind(row.response_code.as_deref())
        .bind(row.gateway_transaction.as_deref())
        .bind(&row.requested_by)
        .bind(row.created_at)
        .bind(row.settled_at)
        .execute(&mut *conn)
        .await?;
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {GATEWAY_REFUND_COLUMNS} FROM dossier_payment_refunds WHERE payment_id = $1 AND status <> 'failed'"
        )))
        .bind(row.payment_id)
        .fetch_one(&mut *conn)
        .await?
    }))
}

/// Records the gateway's signed answer to a refund request still in flight
/// (`refunded` or `failed`); returns whether it was in flight.
#[tracing::instrument(skip(tx, response_code, gateway_transaction, now_ms))]
pub async fn settle_gateway_refund(
    tx: &mut Tx,
    request_id: &str,
    status: &str,
    response_code: &str,
    gateway_transaction: Option<&str>,
    now_ms: i64,
) -> Result<bool, DbError> {
    let updated = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE dossier_payment_refunds \
             SET status = $1, response_code = $2, gateway_transaction = $3, settled_at = $4 \
             WHERE request_id = $5 AND status = 'sent'",
        )
        .bind(status)
        .bind(response_code)
        .bind(gateway_transaction)
        .bind(now_ms)
        .bind(request_id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(updated == 1)
}

/// Marks one payment due back as refunded and takes it off what its dossier
/// has paid; returns whether it was due back (a racing refund finds it
/// refunded and changes nothing).
#[tracing::instrument(skip(tx, now_ms))]
pub async fn refund_payment(tx: &mut Tx, payment_id: Uuid, now_ms: i64) -> Result<bool, DbError> {
    let refunded: Option<(Uuid, i64)> = with_tx!(tx, conn => {
        sqlx::query_as(
            "UPDATE dossier_payments SET status = 'refunded', settled_at = $1 \
             WHERE id = $2 AND status = 'refund_due' RETURNING dossier_id, amount_vnd",
        )
        .bind(now_ms)
        .bind(payment_id)
        .fetch_optional(&mut *conn)
        .await?
    });
    let Some((dossier_id, amount_vnd)) = refunded else {
        return Ok(false);
    };
    with_tx!(tx, conn => {
        sqlx::query("UPDATE dossiers SET fee_paid_vnd = fee_paid_vnd - $1, revision = revision + 1 WHERE id = $2")
            .bind(amount_vnd)
            .bind(dossier_id)
            .execute(&mut *conn)
            .await?;
    });
    Ok(true)
}

/// Like [`record_refund`], for the fees due back that were not paid
/// through the gateway (bank transfers), whose refund an official records
/// by hand; returns the amount.
#[tracing::instrument(skip(tx, now_ms))]
pub async fn record_refund_by_hand(tx: &mut Tx, dossier_id: Uuid, now_ms: i64) -> Result<i64, DbError> {
    let refunded: Vec<i64> = with_tx!(tx, conn => {
        sqlx::query_scalar(
            "UPDATE dossier_payments SET status = 'refunded', settled_at = $1 \
             WHERE dossier_id = $2 AND status = 'refund_due' AND method <> 'gateway' RETURNING amount_vnd",
        )
        .bind(now_ms)
        .bind(dossier_id)
        .fetch_all(&mut *conn)
        .await?
    });
    let total: i64 = refunded.iter().sum();
    if total > 0 {
        with_tx!(tx, conn => {
            sqlx::query("UPDATE dossiers SET fee_paid_vnd = fee_paid_vnd - $1, revision = revision + 1 WHERE id = $2")
                .bind(total)
                .bind(dossier_id)
                .execute(&mut *conn)
                .await?;
        });
    }
    Ok(total)
}
