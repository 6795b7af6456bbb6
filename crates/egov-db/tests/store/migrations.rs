//! Migrations: applying them is idempotent and `pending_migrations` tells
//! what the database has not applied.

use egov_db::{Db, PoolSettings, with_pool};
use egov_testkit::engine_test;

engine_test! {
    async fn migrating_twice_leaves_nothing_pending(test_db: TestDb) {
        let db = &test_db.db;
        assert_eq!(db.pending_migrations().await.expect("list pending"), Vec::<String>::new());
        db.migrate().await.expect("migrate a migrated database again");
        assert_eq!(db.pending_migrations().await.expect("list pending"), Vec::<String>::new());

        // Forgetting that the newest migration ran must make it pending, or
        // the emptiness above proves nothing.
        let newest: i64 = with_pool!(db, pool => {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                .fetch_one(pool)
                .await
                .expect("read the newest applied version")
        });
        with_pool!(db, pool => {
            sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
                .bind(newest)
                .execute(pool)
                .await
                .expect("forget the newest migration");
        });
        let pending = db.pending_migrations().await.expect("list pending");
        assert_eq!(pending.len(), 1, "pending: {pending:?}");
        assert!(pending[0].starts_with(&format!("{newest} ")), "pending: {pending:?}");
    }
}

#[tokio::test]
async fn a_database_never_migrated_has_every_migration_pending() {
    // One connection, because every connection to `sqlite::memory:` opens a
    // database of its own.
    let settings = PoolSettings {
        max_connections: 1,
        ..PoolSettings::default()
    };
    let db = Db::connect("sqlite::memory:", &settings)
        .await
        .expect("open an in-memory database");
    let pending = db.pending_migrations().await.expect("list pending");
    assert!(
        pending.iter().any(|migration| migration.contains("platform")),
        "pending: {pending:?}"
    );
    db.migrate().await.expect("migrate");
    assert_eq!(
        db.pending_migrations().await.expect("list pending"),
        Vec::<String>::new()
    );
}
