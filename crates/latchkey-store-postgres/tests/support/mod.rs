//! A fresh schema per test, against the server in `LATCHKEY_TEST_POSTGRES_URL`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use latchkey_store_postgres::{PostgresOptions, PostgresStore};

/// The variable that names the test server.
const URL_VAR: &str = "LATCHKEY_TEST_POSTGRES_URL";

/// Runs `test` with `instances` stores (separate pools) over one fresh schema,
/// then drops the schema, also when the test panics. Without [`URL_VAR`],
/// prints one line and returns.
pub(crate) async fn with_stores<F, Fut>(name: &str, instances: usize, test: F)
where
    F: FnOnce(Vec<PostgresStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(url) = std::env::var(URL_VAR) else {
        println!("skipped {name}: {URL_VAR} is unset (no PostgreSQL to test against)");
        return;
    };
    let schema = fresh_schema();
    let options = PostgresOptions::new().schema(&schema).max_connections(8);
    let mut stores = Vec::with_capacity(instances);
    for _ in 0..instances.max(1) {
        stores.push(
            PostgresStore::connect_with(&url, &options)
                .await
                .expect("connect to the test database"),
        );
    }
    let admin = stores[0].clone();
    let outcome = tokio::spawn(test(stores)).await;
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(admin.pool())
        .await
        .expect("drop the test schema");
    admin.close().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task failed: {error}"),
        }
    }
}

/// A schema name no other test, run or process uses.
fn fresh_schema() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "lk_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000_000
    )
}
