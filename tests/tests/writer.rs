//! The group writer on PostgreSQL keeps one connection between groups. A
//! kept connection can die under it (a restarted server, an administrator's
//! `pg_terminate_backend`): publication must go on, with no number skipped
//! or taken twice, and the writer must keep a new one.

use gongkai_kernel::auth::Role;
use gongkai_tests::*;

/// Backends of this database whose last statement was the writer's write
/// expecting the counters (only the group writer sends it).
const WRITER_BACKENDS: &str = "FROM pg_stat_activity \
     WHERE datname = current_database() AND query LIKE 'WITH sc AS (UPDATE counters%'";

#[tokio::test]
async fn the_writer_goes_on_when_its_connection_is_ended() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    let url = pg.fresh_database().await?;
    let nats = Nats::start().await?;
    let mut node = Node::start_with("340823.edu", &nats, publishing_config(&url)).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let observer =
        gongkai_kernel::db::Db::connect(&url, &gongkai_publishing::store::MIGRATIONS).await?;

    let mut numbers = Vec::new();
    // The first publication takes the counters under lock, the next ones
    // write expecting them, on the connection the writer keeps.
    for i in 0..3 {
        let f = summary_fields(&format!("连接之前{i}"), "政务公开。");
        numbers.push(
            publish_new(&mut editor, &mut reviewer, f, "")
                .await?
                .index_no,
        );
    }
    let writers: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) {WRITER_BACKENDS}"
    )))
    .fetch_one(observer.read())
    .await?;
    assert_eq!(writers, 1, "one connection carries the writer's writes");

    let ended: Vec<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) {WRITER_BACKENDS}"
    )))
    .fetch_all(observer.read())
    .await?;
    assert_eq!(ended, [true]);

    for i in 0..4 {
        let f = summary_fields(&format!("连接之后{i}"), "政务公开。");
        numbers.push(
            publish_new(&mut editor, &mut reviewer, f, "")
                .await?
                .index_no,
        );
    }
    let year = gongkai_kernel::db::today_cst().format("%Y");
    let expected: Vec<String> = (1..=7).map(|n| format!("{ORG}/{year}-{n:05}")).collect();
    assert_eq!(numbers, expected, "no number skipped or taken twice");
    let writers: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) {WRITER_BACKENDS}"
    )))
    .fetch_one(observer.read())
    .await?;
    assert_eq!(writers, 1, "the writer keeps a new connection");

    observer.close().await;
    node.stop().await?;
    Ok(())
}
