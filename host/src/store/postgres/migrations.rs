//! Numbered schema migrations for PostgreSQL, applied in order at start under an advisory lock;
//! `herald_schema` records the last one applied.

use deadpool_postgres::Object;

use crate::store::StoreError;

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    (
        "0002_installed_plugins",
        include_str!("migrations/0002_installed_plugins.sql"),
    ),
    (
        "0003_integration_grants",
        include_str!("migrations/0003_integration_grants.sql"),
    ),
    (
        "0004_agent_keys",
        include_str!("migrations/0004_agent_keys.sql"),
    ),
    (
        "0005_item_output",
        include_str!("migrations/0005_item_output.sql"),
    ),
    (
        "0006_run_liveness",
        include_str!("migrations/0006_run_liveness.sql"),
    ),
    (
        "0007_secret_rotation",
        include_str!("migrations/0007_secret_rotation.sql"),
    ),
    (
        "0008_integration_health",
        include_str!("migrations/0008_integration_health.sql"),
    ),
    ("0009_tasks", include_str!("migrations/0009_tasks.sql")),
    ("0010_audit", include_str!("migrations/0010_audit.sql")),
    (
        "0011_retention_marks",
        include_str!("migrations/0011_retention_marks.sql"),
    ),
    (
        "0012_finished_hash",
        include_str!("migrations/0012_finished_hash.sql"),
    ),
    (
        "0013_claim_key",
        include_str!("migrations/0013_claim_key.sql"),
    ),
];

/// The advisory lock key migrations run under ("herald" in ASCII), so that hosts starting
/// together apply each migration once.
const MIGRATION_LOCK: i64 = 0x6865_7261_6c64;

pub(super) async fn apply(client: &mut Object) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS herald_schema (version BIGINT NOT NULL)")
        .await?;
    let current: Option<i64> = tx
        .query_opt("SELECT version FROM herald_schema", &[])
        .await?
        .map(|row| row.get(0));
    let current = current.unwrap_or(0) as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database is at schema version {current}, newer than this herald ({}); upgrade herald",
            MIGRATIONS.len()
        )));
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.batch_execute(sql).await?;
        tracing::info!(migration = name, "applied database migration");
        let version = (index + 1) as i64;
        if tx
            .execute("UPDATE herald_schema SET version = $1", &[&version])
            .await?
            == 0
        {
            tx.execute(
                "INSERT INTO herald_schema (version) VALUES ($1)",
                &[&version],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
