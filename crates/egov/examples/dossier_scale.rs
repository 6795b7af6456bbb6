//! The back office at scale: fills a database with N dossiers of the demo
//! province spread over a year (in SQL, in batches), then times, through
//! the dossier service itself, the first page of an agency's queue (p50,
//! p99 of 200 reads, as an official of the one-stop desk, so the queue
//! also filters by department; each dossier's department is its state's
//! step's) and the province's statistics for the year (median of 5). The service's queries are what is measured; HTTP adds about a
//! millisecond on top (see the catalogue's figures).
//!
//! Usage: `dossier_scale DATABASE_URL N`; the database is migrated and the
//! demo catalogue seeded first. Prints one `key=value` line.

// Rates and percentiles are printed as floating point from small counts.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use egov_core::calendar::HolidayCalendar;
use egov_core::clock::{Clock, SystemClock};
use egov_db::{Db, PoolSettings, with_pool};
use egov_onestop::Catalogue;
use egov_onestop::dossier::read::{QueueKind, QueueQuery};
use egov_onestop::dossier::{Dossiers, Official, Role};

const AGENCIES: [&str; 4] = ["000.00.01.H24", "000.00.02.H24", "000.05.01.H24", "000.05.02.H24"];
const STATES: [&str; 6] = [
    "submitted",
    "received",
    "processing",
    "supplement",
    "returned",
    "refused",
];

/// Inserts `count` dossiers numbered from `first`, in one statement.
async fn fill(db: &Db, first: u64, count: u64, year_start_ms: i64) -> Result<(), egov_db::DbError> {
    let series = match db {
        Db::Sqlite(..) => format!(
            "WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {last}) SELECT i FROM n",
            last = first + count - 1
        ),
        Db::Postgres(_) => format!(
            "SELECT generate_series({first}::bigint, {last}::bigint) AS i",
            last = first + count - 1
        ),
    };
    let id = match db {
        Db::Sqlite(..) => "randomblob(16)",
        Db::Postgres(_) => "gen_random_uuid()",
    };
    let agency = format!(
        "(CASE i % 4 {} END)",
        AGENCIES
            .iter()
            .enumerate()
            .map(|(k, a)| format!("WHEN {k} THEN '{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let state = format!(
        "(CASE (i / 4) % 6 {} END)",
        STATES
            .iter()
            .enumerate()
            .map(|(k, s)| format!("WHEN {k} THEN '{s}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let sql = format!(
        "INSERT INTO dossiers (id, code, procedure_code, procedure_version, agency_code, holder_agency, channel, \
         applicant_subject, applicant_name, applicant_personal_id, applicant_email, idempotency_key, form_data, state, \
         step, resume_state, assignee, fee_vnd, submitted_at, received_at, due_at, paused_at, finished_at, late, \
         revision, search_text, department) \
         SELECT {id}, {agency} || '-260101-' || i, '1.001193', 1, {agency}, {agency}, \
         CASE WHEN i % 3 = 0 THEN 'counter' ELSE 'online' END, 'citizen-' || (i % 50000), 'Nguyễn Văn ' || i, \
         '001090012345', NULL, 'scale-' || i, '{{}}', {state}, 1, NULL, NULL, 0, \
         {year_start_ms} + (i % 31536000) * 1000, {year_start_ms} + (i % 31536000) * 1000, \
         {year_start_ms} + (i % 31536000) * 1000 + 86400000, NULL, \
         CASE WHEN (i / 4) % 6 IN (4, 5) THEN {year_start_ms} + (i % 31536000) * 1000 + 3600000 ELSE NULL END, \
         CASE WHEN (i / 4) % 6 = 4 THEN (i % 10 = 0) ELSE NULL END, 0, 'nguyen van ' || i, \
         CASE (i / 4) % 6 WHEN 0 THEN 'MOT_CUA' WHEN 3 THEN 'MOT_CUA' WHEN 1 THEN 'CHUYEN_MON' \
         WHEN 2 THEN (CASE WHEN (i / 24) % 2 = 0 THEN 'CHUYEN_MON' ELSE NULL END) ELSE NULL END \
         FROM ({series}) AS numbers"
    );
    with_pool!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
    });
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "sqlite://egov-scale.db".to_owned());
    let count: u64 = args.next().and_then(|text| text.parse().ok()).unwrap_or(1_000_000);
    let db = Db::connect(&url, &PoolSettings::default()).await?;
    db.migrate().await?;
    let year_start = NaiveDate::from_ymd_opt(2026, 1, 1).ok_or("date")?;
    let year_start_ms =
        egov_onestop::dossier::submit::from_vn(year_start.and_time(chrono::NaiveTime::MIN)).timestamp_millis();
    egov_onestop::seed::load_demo(&db, chrono::Utc::now()).await?;

    let existing: i64 = with_pool!(&db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM dossiers").fetch_one(pool).await?
    });
    let filled = Instant::now();
    let mut next = u64::try_from(existing).unwrap_or(0);
    while next < count {
        let batch = (count - next).min(100_000);
        fill(&db, next, batch, year_start_ms).await?;
        next += batch;
    }
    let fill_seconds = filled.elapsed().as_secs_f64();
    if let Db::Postgres(pool) = &db {
        sqlx::query("ANALYZE dossiers").execute(pool).await?;
    } else if let Db::Sqlite(pool, _) = &db {
        sqlx::query("ANALYZE").execute(pool).await?;
    }

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let calendar = Arc::new(HolidayCalendar::embedded());
    let catalogue = Catalogue::new(db.clone(), Arc::clone(&clock), Arc::clone(&calendar));
    let dossiers = Dossiers::new(db.clone(), clock, calendar, catalogue);
    let official = Official {
        subject: "scale".to_owned(),
        name: "Scale".to_owned(),
        agency_code: AGENCIES[0].to_owned(),
        // An official of the desk: their queue filters by its department.
        department: Some("MOT_CUA".to_owned()),
        roles: vec![Role::Receiver, Role::Specialist, Role::Leader],
    };
    let mut queue_ms = Vec::new();
    for round in 0..200 {
        let kind = [
            QueueKind::New,
            QueueKind::Processing,
            QueueKind::Waiting,
            QueueKind::All,
        ][round % 4];
        let query = QueueQuery {
            kind,
            text: String::new(),
            procedure_code: None,
            mine: false,
            department: None,
            submitted_from: None,
            submitted_to: None,
            page: 1,
        };
        let started = Instant::now();
        let page = dossiers.queue(&official, &query).await?;
        queue_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(!page.is_empty(), "the queue has dossiers");
    }
    queue_ms.sort_by(f64::total_cmp);
    let mut statistics_ms = Vec::new();
    let mut received = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let report = dossiers
            .statistics(None, year_start, NaiveDate::from_ymd_opt(2027, 1, 1).ok_or("date")?)
            .await?;
        statistics_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        received = report.totals.received;
    }
    statistics_ms.sort_by(f64::total_cmp);
    let search = Instant::now();
    let query = QueueQuery {
        kind: QueueKind::All,
        text: "nguyen van 4242".to_owned(),
        procedure_code: None,
        mine: false,
        department: None,
        submitted_from: None,
        submitted_to: None,
        page: 1,
    };
    let found = dossiers.queue(&official, &query).await?.len();
    let search_ms = search.elapsed().as_secs_f64() * 1000.0;
    println!(
        "dossiers={count} fill_s={fill_seconds:.1} queue_p50_ms={:.1} queue_p99_ms={:.1} statistics_year_median_ms={:.0} \
         statistics_received={received} search_ms={search_ms:.0} search_found={found}",
        queue_ms[queue_ms.len() / 2],
        queue_ms[(queue_ms.len() * 99) / 100],
        statistics_ms[statistics_ms.len() / 2],
    );
    Ok(())
}
