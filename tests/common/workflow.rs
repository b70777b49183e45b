//! What a user does with a fresh database, whatever runs its engine: use
//! it with the credentials handed out, run SQL jobs through the API, and
//! find the owner's password in no log. Shared by the workflows of every
//! runtime, so each asserts the same things.

use dbaas_model::*;

use super::{connect, Agent};

/// Uses the ACTIVE database `name` (owned by the role `name`) as its owner
/// and through SQL jobs, asserting what a user would check at each step;
/// returns its connection details and an open session.
pub async fn use_it_as_its_owner(
    agent: &Agent,
    name: &str,
) -> (Connection, tokio_postgres::Client) {
    let c = &agent.client;
    // The credentials work, over the network address handed out.
    let conn = c.connection(name).await.unwrap();
    assert_eq!(conn.database, name);
    assert_eq!(conn.user, name);
    assert!(conn.password.len() >= 24);
    let pg = connect(&conn).await;
    pg.batch_execute("CREATE TABLE items (id int PRIMARY KEY, label text); INSERT INTO items VALUES (1, 'one'), (2, NULL);")
        .await
        .unwrap();
    let rows = pg
        .query("SELECT label FROM items ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<_, Option<String>>(0).as_deref(), Some("one"));

    // The connection file a git-ops repository keeps says the same.
    let yaml =
        std::fs::read_to_string(agent.data_dir().join(format!("connections/{name}.yml"))).unwrap();
    assert!(yaml.contains(&format!("uri: {}", conn.uri)), "{yaml}");
    assert!(
        yaml.contains(&format!("password: {}", conn.password)),
        "{yaml}"
    );

    // An admin SQL job through the API returns the rows, with notices.
    let job_op = c
        .submit_sql(
            name,
            &SqlJobRequest {
                sql: "DO $$ BEGIN RAISE NOTICE 'counting'; END $$; SELECT id, label FROM items ORDER BY id".into(),
                database: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(job_op.kind, OperationKind::RunSql);
    let done = agent.wait(&job_op.id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let job = c.get_sql_job(&job_op.id).await.unwrap();
    let out = job.output.expect("output captured");
    let select = out.statements.last().unwrap();
    assert_eq!(select.columns, vec!["id", "label"]);
    assert_eq!(
        select.rows,
        vec![
            vec![Some("1".to_string()), Some("one".to_string())],
            vec![Some("2".to_string()), None]
        ]
    );
    assert_eq!(out.notices.len(), 1);
    assert_eq!(out.notices[0].message, "counting");

    // A failing job reports the server's SQLSTATE.
    let bad = c
        .submit_sql(
            name,
            &SqlJobRequest {
                sql: "SELECT * FROM missing_table".into(),
                database: None,
            },
        )
        .await
        .unwrap();
    let bad_done = agent.wait(&bad.id).await;
    assert_eq!(bad_done.state, OperationState::Failed);
    let bad_job = c.get_sql_job(&bad.id).await.unwrap();
    assert_eq!(bad_job.output.unwrap().error.unwrap().sqlstate, "42P01");

    // Jobs run as the owner, not as a superuser.
    let who = c
        .submit_sql(
            name,
            &SqlJobRequest {
                sql: "SELECT current_user, usesuper FROM pg_user WHERE usename = current_user"
                    .into(),
                database: None,
            },
        )
        .await
        .unwrap();
    agent.wait(&who.id).await;
    let who = c.get_sql_job(&who.id).await.unwrap().output.unwrap();
    assert_eq!(
        who.statements[0].rows[0],
        vec![Some(name.to_string()), Some("f".to_string())]
    );

    // The owner's password is in no log: not the agent's, not the engine's.
    assert!(
        !agent.log().contains(&conn.password),
        "the agent logged the password"
    );
    for vol in agent.dir_entries("volumes") {
        let engine_log = std::fs::read_to_string(
            agent
                .data_dir()
                .join("volumes")
                .join(vol)
                .join("postgres.log"),
        )
        .unwrap_or_default();
        assert!(
            !engine_log.contains(&conn.password),
            "the engine logged the password"
        );
    }
    (conn, pg)
}
