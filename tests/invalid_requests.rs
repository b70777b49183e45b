//! Invalid requests, sent raw over HTTP: every one is answered with a 4xx
//! and the API's JSON error (`{"error": {"code", "message", "field"?}}`)
//! naming the problem, and none of them changes anything: the databases,
//! the operations and the volumes on disk are the same afterwards.

mod common;

use common::Agent;
use dbaas_model::*;
use reqwest::Method;
use serde_json::json;

const JSON: &str = "application/json";

/// One invalid request and the answer it must get.
struct Case {
    what: String,
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    content_type: Option<&'static str>,
    status: u16,
    code: ErrorCode,
    /// Text the error message must contain.
    fragment: String,
    /// The `field` the error must name (`None`: it must name none).
    field: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
fn raw(
    what: impl Into<String>,
    method: Method,
    path: impl Into<String>,
    body: Option<Vec<u8>>,
    content_type: Option<&'static str>,
    status: u16,
    code: ErrorCode,
    fragment: impl Into<String>,
    field: Option<&'static str>,
) -> Case {
    Case {
        what: what.into(),
        method,
        path: path.into(),
        body,
        content_type,
        status,
        code,
        fragment: fragment.into(),
        field,
    }
}

/// A POST of a JSON value, sent with the right Content-Type.
fn post(
    what: impl Into<String>,
    path: impl Into<String>,
    body: serde_json::Value,
    status: u16,
    code: ErrorCode,
    fragment: impl Into<String>,
    field: Option<&'static str>,
) -> Case {
    let bytes = serde_json::to_vec(&body).unwrap();
    raw(
        what,
        Method::POST,
        path,
        Some(bytes),
        Some(JSON),
        status,
        code,
        fragment,
        field,
    )
}

/// A request without a body.
fn bare(
    what: impl Into<String>,
    method: Method,
    path: impl Into<String>,
    status: u16,
    code: ErrorCode,
    fragment: impl Into<String>,
    field: Option<&'static str>,
) -> Case {
    raw(
        what, method, path, None, None, status, code, fragment, field,
    )
}

/// Percent-encodes a path segment: everything but ASCII letters, digits and
/// `-_.~`, so `/` travels as `%2F` and `..` never forms a segment of its own.
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Names the API must refuse, and what the message must say about each.
fn bad_names() -> Vec<(&'static str, String, String)> {
    let long = "a".repeat(MAX_NAME_LEN + 1);
    vec![
        (
            "too long (49 characters)",
            long,
            "49 characters long".into(),
        ),
        ("uppercase", "Orders".into(), "contains 'O'".into()),
        ("leading digit", "1db".into(), "start with a letter".into()),
        ("leading hyphen", "-db".into(), "start with a letter".into()),
        ("trailing hyphen", "db-".into(), "end with a hyphen".into()),
        ("dot", "my.db".into(), "contains '.'".into()),
        ("underscore", "my_db".into(), "contains '_'".into()),
        ("single quote", "a'b".into(), "contains '\\''".into()),
        ("double quote", "a\"b".into(), "contains '\"'".into()),
        (
            "SQL injection",
            "x; drop table x".into(),
            "contains ';'".into(),
        ),
        ("non-ASCII letter", "dé".into(), "contains 'é'".into()),
        ("emoji", "db🐘".into(), "contains '🐘'".into()),
        ("path traversal", "../etc".into(), "contains '.'".into()),
        ("space", "my db".into(), "contains ' '".into()),
        ("NUL byte", "a\0b".into(), "contains '\\0'".into()),
        ("slash", "a/b".into(), "contains '/'".into()),
        // 25 two-byte characters: 50 bytes but 25 characters, so the
        // message must be about the character, not the length.
        (
            "25 non-ASCII letters",
            "é".repeat(25),
            "contains 'é'".into(),
        ),
    ]
}

fn cases(keep_create_op: &str) -> Vec<Case> {
    use ErrorCode::*;
    let mut v = Vec::new();
    let dbs = "/v1/databases";

    // ---- Create: names.
    v.push(post(
        "create: empty name",
        dbs,
        json!({"name": ""}),
        400,
        InvalidRequest,
        "the name is empty",
        Some("name"),
    ));
    for (what, name, frag) in bad_names() {
        v.push(post(
            format!("create: name {what}"),
            dbs,
            json!({"name": name, "size_gb": 1}),
            400,
            InvalidRequest,
            frag,
            Some("name"),
        ));
    }

    // ---- Create: sizes, engines, versions.
    let size = |what: &str, size: serde_json::Value, frag: &str, field| {
        post(
            format!("create: size_gb {what}"),
            dbs,
            json!({"name": "sized", "size_gb": size}),
            400,
            InvalidRequest,
            frag,
            field,
        )
    };
    v.push(size("0", json!(0), "size_gb is 0", Some("size_gb")));
    v.push(size("-1", json!(-1), "size_gb is -1", Some("size_gb")));
    v.push(size(
        "10^12",
        json!(1_000_000_000_000i64),
        "size_gb is 1000000000000",
        Some("size_gb"),
    ));
    v.push(size(
        "16385",
        json!(MAX_SIZE_GB + 1),
        "from 1 to 16384",
        Some("size_gb"),
    ));
    v.push(size("1.5", json!(1.5), "size_gb", Some("body")));
    v.push(size("\"10\"", json!("10"), "size_gb", Some("body")));
    v.push(size("true", json!(true), "size_gb", Some("body")));
    v.push(raw(
        "create: size_gb beyond i64",
        Method::POST,
        dbs,
        Some(br#"{"name": "sized", "size_gb": 100000000000000000000}"#.to_vec()),
        Some(JSON),
        400,
        InvalidRequest,
        "size_gb",
        Some("body"),
    ));
    v.push(post(
        "create: engine mysql",
        dbs,
        json!({"name": "eng", "engine": "mysql"}),
        400,
        InvalidRequest,
        "unknown engine \"mysql\"",
        Some("engine"),
    ));
    v.push(post(
        "create: engine empty",
        dbs,
        json!({"name": "eng", "engine": ""}),
        400,
        InvalidRequest,
        "engine",
        Some("engine"),
    ));
    v.push(post(
        "create: engine in capitals",
        dbs,
        json!({"name": "eng", "engine": "PostgreSQL"}),
        400,
        InvalidRequest,
        "engine",
        Some("engine"),
    ));
    v.push(post(
        "create: version 9",
        dbs,
        json!({"name": "ver", "version": "9"}),
        400,
        InvalidRequest,
        "version \"9\" is not available",
        Some("version"),
    ));
    v.push(post(
        "create: version as a number",
        dbs,
        json!({"name": "ver", "version": 15}),
        400,
        InvalidRequest,
        "version",
        Some("body"),
    ));

    // ---- Create: body shape.
    let body = |what: &str, bytes: &[u8], ct: Option<&'static str>, frag: &str| {
        raw(
            format!("create: {what}"),
            Method::POST,
            dbs,
            Some(bytes.to_vec()),
            ct,
            400,
            InvalidRequest,
            frag,
            Some("body"),
        )
    };
    v.push(body(
        "truncated JSON",
        br#"{"name": "trunc""#,
        Some(JSON),
        "not valid JSON",
    ));
    v.push(body(
        "trailing garbage",
        br#"{"name": "trail"} x"#,
        Some(JSON),
        "not valid JSON",
    ));
    v.push(body("empty body", b"", Some(JSON), "not valid JSON"));
    v.push(body(
        "not JSON at all",
        b"name=plain",
        Some(JSON),
        "not valid JSON",
    ));
    v.push(body(
        "invalid UTF-8",
        b"{\"name\": \"\xff\"}",
        Some(JSON),
        "not valid JSON",
    ));
    v.push(body(
        "a string, not an object",
        br#""arrdb""#,
        Some(JSON),
        "JSON object",
    ));
    v.push(body(
        "a number, not an object",
        b"42",
        Some(JSON),
        "JSON object",
    ));
    v.push(body(
        "null, not an object",
        b"null",
        Some(JSON),
        "JSON object",
    ));
    v.push(body("an empty array", b"[]", Some(JSON), "JSON object"));
    // serde would read an array as the struct's fields in order.
    v.push(body(
        "an array of the fields",
        br#"["arrdb", null, null, 1]"#,
        Some(JSON),
        "JSON object",
    ));
    v.push(body(
        "empty object (no name)",
        b"{}",
        Some(JSON),
        "missing field `name`",
    ));
    v.push(body(
        "unknown top-level field",
        br#"{"name": "extra", "size_gb": 1, "owner": "root"}"#,
        Some(JSON),
        "unknown field `owner`",
    ));
    v.push(body(
        "misspelt field",
        br#"{"name": "extra", "size": 1}"#,
        Some(JSON),
        "unknown field `size`",
    ));
    v.push(body(
        "duplicate field",
        br#"{"name": "dupa", "name": "dupb"}"#,
        Some(JSON),
        "duplicate field `name`",
    ));
    v.push(body(
        "name as a number",
        br#"{"name": 42}"#,
        Some(JSON),
        "name",
    ));
    v.push(body("null name", br#"{"name": null}"#, Some(JSON), "name"));
    v.push(body(
        "name as an object",
        br#"{"name": {"first": "a"}}"#,
        Some(JSON),
        "name",
    ));
    let good = br#"{"name": "ctype", "size_gb": 1}"#;
    v.push(body(
        "Content-Type text/plain",
        good,
        Some("text/plain"),
        "Content-Type: application/json",
    ));
    v.push(body(
        "Content-Type form",
        good,
        Some("application/x-www-form-urlencoded"),
        "Content-Type: application/json",
    ));
    v.push(body(
        "no Content-Type",
        good,
        None,
        "Content-Type: application/json",
    ));
    let mut huge = br#"{"name": "huge", "engine": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024 + 1));
    huge.extend(br#""}"#);
    v.push(raw(
        "create: body over 2 MiB",
        Method::POST,
        dbs,
        Some(huge),
        Some(JSON),
        413,
        PayloadTooLarge,
        "larger than 2097152 bytes",
        None,
    ));

    // ---- SQL jobs.
    let jobs = "/v1/databases/keep/sql-jobs";
    let sql = |what: &str, body: serde_json::Value, frag: &str, field| {
        post(
            format!("sql job: {what}"),
            jobs,
            body,
            400,
            InvalidRequest,
            frag,
            field,
        )
    };
    v.push(sql(
        "empty SQL",
        json!({"sql": ""}),
        "SQL text is empty",
        Some("sql"),
    ));
    v.push(sql(
        "whitespace-only SQL",
        json!({"sql": " \n\t  "}),
        "SQL text is empty",
        Some("sql"),
    ));
    let long_sql = format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES + 1024 * 512));
    v.push(sql(
        "SQL of 1.5 MiB",
        json!({ "sql": long_sql }),
        "the limit is 1048576 bytes",
        Some("sql"),
    ));
    v.push(sql(
        "SQL with a NUL byte",
        json!({"sql": "SELECT 1;\0 SELECT 2"}),
        "NUL byte",
        Some("sql"),
    ));
    v.push(sql(
        "no sql field",
        json!({"database": "keep"}),
        "missing field `sql`",
        Some("body"),
    ));
    v.push(sql(
        "sql as a number",
        json!({"sql": 1}),
        "sql",
        Some("body"),
    ));
    v.push(sql(
        "unknown field",
        json!({"sql": "SELECT 1", "user": "postgres"}),
        "unknown field `user`",
        Some("body"),
    ));
    v.push(sql(
        "an array of the fields",
        json!(["SELECT 1"]),
        "JSON object",
        Some("body"),
    ));
    v.push(sql(
        "database in capitals",
        json!({"sql": "SELECT 1", "database": "Keep"}),
        "\"Keep\" is not a database name",
        Some("database"),
    ));
    v.push(sql(
        "database with a quote",
        json!({"sql": "SELECT 1", "database": "ke'ep"}),
        "is not a database name",
        Some("database"),
    ));
    v.push(sql(
        "database empty",
        json!({"sql": "SELECT 1", "database": ""}),
        "is not a database name",
        Some("database"),
    ));
    v.push(sql(
        "database 64 characters",
        json!({"sql": "SELECT 1", "database": "d".repeat(64)}),
        "1 to 63",
        Some("database"),
    ));
    v.push(raw(
        "sql job: text/plain body",
        Method::POST,
        jobs,
        Some(b"SELECT 1".to_vec()),
        Some("text/plain"),
        400,
        InvalidRequest,
        "Content-Type: application/json",
        Some("body"),
    ));
    let mut huge_sql = br#"{"sql": ""#.to_vec();
    huge_sql.extend(std::iter::repeat_n(b' ', 2 * 1024 * 1024));
    huge_sql.extend(br#"SELECT 1"}"#);
    v.push(raw(
        "sql job: body over 2 MiB",
        Method::POST,
        jobs,
        Some(huge_sql),
        Some(JSON),
        413,
        PayloadTooLarge,
        "larger than",
        None,
    ));
    v.push(post(
        "sql job: missing database",
        "/v1/databases/absent/sql-jobs",
        json!({"sql": "SELECT 1"}),
        404,
        NotFound,
        "no database named \"absent\"",
        None,
    ));
    v.push(post(
        "sql job: invalid database name in the path",
        "/v1/databases/Keep/sql-jobs",
        json!({"sql": "SELECT 1"}),
        400,
        InvalidRequest,
        "contains 'K'",
        Some("name"),
    ));
    v.push(post(
        "sql job: underscore name in the path",
        "/v1/databases/my_db/sql-jobs",
        json!({"sql": "SELECT 1"}),
        400,
        InvalidRequest,
        "contains '_'",
        Some("name"),
    ));

    // ---- Names in paths.
    for (what, name, frag) in bad_names() {
        let path = format!("{dbs}/{}", seg(&name));
        v.push(bare(
            format!("GET database: {what}"),
            Method::GET,
            &path,
            400,
            InvalidRequest,
            frag.clone(),
            Some("name"),
        ));
        v.push(bare(
            format!("DELETE database: {what}"),
            Method::DELETE,
            &path,
            400,
            InvalidRequest,
            frag.clone(),
            Some("name"),
        ));
        v.push(bare(
            format!("GET connection: {what}"),
            Method::GET,
            format!("{path}/connection"),
            400,
            InvalidRequest,
            frag,
            Some("name"),
        ));
    }
    v.push(bare(
        "GET database: invalid UTF-8 in the path",
        Method::GET,
        format!("{dbs}/%FF"),
        400,
        InvalidRequest,
        "UTF-8",
        Some("path"),
    ));
    v.push(bare(
        "GET database: absent",
        Method::GET,
        format!("{dbs}/absent"),
        404,
        NotFound,
        "no database named \"absent\"",
        None,
    ));
    v.push(bare(
        "DELETE database: absent",
        Method::DELETE,
        format!("{dbs}/absent"),
        404,
        NotFound,
        "no database named \"absent\"",
        None,
    ));
    v.push(bare(
        "GET connection: absent",
        Method::GET,
        format!("{dbs}/absent/connection"),
        404,
        NotFound,
        "no database named \"absent\"",
        None,
    ));
    v.push(bare(
        "GET database: longest valid name, absent",
        Method::GET,
        format!("{dbs}/{}", "z".repeat(48)),
        404,
        NotFound,
        "no database named",
        None,
    ));
    v.push(bare(
        "DELETE database: empty name (trailing slash)",
        Method::DELETE,
        format!("{dbs}/"),
        404,
        NotFound,
        "no such path",
        None,
    ));

    // ---- Operation and SQL job ids.
    let absent_id = "0b5c8f3e-2f1d-4c1a-9d0e-6f1f0c2b7a41";
    let bad_ids: Vec<(&str, String)> = vec![
        ("not a UUID", "not-a-uuid".into()),
        ("uppercase UUID", absent_id.to_uppercase()),
        (
            "UUID without hyphens",
            format!("{}0000", absent_id.replace('-', "")),
        ),
        ("36 hyphens", "-".repeat(36)),
        ("UUID with braces", format!("{{{absent_id}}}")),
        ("path traversal", "../../etc/passwd".into()),
        ("quote", format!("{}'", &absent_id[..35])),
    ];
    for (what, id) in &bad_ids {
        v.push(bare(
            format!("GET operation: {what}"),
            Method::GET,
            format!("/v1/operations/{}", seg(id)),
            400,
            InvalidRequest,
            "is not an operation id",
            Some("id"),
        ));
        v.push(bare(
            format!("GET sql job: {what}"),
            Method::GET,
            format!("/v1/sql-jobs/{}", seg(id)),
            400,
            InvalidRequest,
            "is not an operation id",
            Some("id"),
        ));
    }
    v.push(bare(
        "GET operation: absent UUID",
        Method::GET,
        format!("/v1/operations/{absent_id}"),
        404,
        NotFound,
        "no operation with id",
        None,
    ));
    v.push(bare(
        "GET sql job: absent UUID",
        Method::GET,
        format!("/v1/sql-jobs/{absent_id}"),
        404,
        NotFound,
        "no SQL job with id",
        None,
    ));
    v.push(bare(
        "GET sql job: id of an operation that is not a SQL job",
        Method::GET,
        format!("/v1/sql-jobs/{keep_create_op}"),
        404,
        NotFound,
        "no SQL job with id",
        None,
    ));

    // ---- Backups and restores.
    let absent_backup = "00000000-0000-4000-8000-000000000000";
    v.push(bare(
        "backup: invalid database name",
        Method::POST,
        "/v1/databases/Keep/backups",
        400,
        InvalidRequest,
        "contains 'K'",
        Some("name"),
    ));
    v.push(bare(
        "backup: absent database",
        Method::POST,
        "/v1/databases/absent/backups",
        404,
        NotFound,
        "no database named",
        None,
    ));
    v.push(bare(
        "list backups: invalid name",
        Method::GET,
        "/v1/databases/a.b/backups",
        400,
        InvalidRequest,
        "contains '.'",
        Some("name"),
    ));
    v.push(bare(
        "list backups: no database and no backups",
        Method::GET,
        "/v1/databases/absent/backups",
        404,
        NotFound,
        "no database and no backups",
        None,
    ));
    v.push(bare(
        "show backup: not an id",
        Method::GET,
        "/v1/backups/..%2Fetc",
        400,
        InvalidRequest,
        "is not an operation id",
        Some("id"),
    ));
    v.push(bare(
        "show backup: absent",
        Method::GET,
        format!("/v1/backups/{absent_backup}"),
        404,
        NotFound,
        "no backup with id",
        None,
    ));
    v.push(bare(
        "delete backup: absent",
        Method::DELETE,
        format!("/v1/backups/{absent_backup}"),
        404,
        NotFound,
        "no backup with id",
        None,
    ));
    let restore = "/v1/databases/copy/restore";
    v.push(post(
        "restore: invalid new name",
        "/v1/databases/Copy/restore",
        json!({"from": "keep"}),
        400,
        InvalidRequest,
        "contains 'C'",
        Some("name"),
    ));
    v.push(post(
        "restore: invalid source name",
        restore,
        json!({"from": "ke'ep"}),
        400,
        InvalidRequest,
        "contains",
        Some("from"),
    ));
    v.push(post(
        "restore: missing source",
        restore,
        json!({}),
        400,
        InvalidRequest,
        "missing field `from`",
        Some("body"),
    ));
    v.push(post(
        "restore: unknown field",
        restore,
        json!({"from": "keep", "at": "now"}),
        400,
        InvalidRequest,
        "unknown field `at`",
        Some("body"),
    ));
    v.push(post(
        "restore: backup not an id",
        restore,
        json!({"from": "keep", "backup": "latest"}),
        400,
        InvalidRequest,
        "is not an operation id",
        Some("backup"),
    ));
    v.push(post(
        "restore: size 0",
        restore,
        json!({"from": "keep", "size_gb": 0}),
        400,
        InvalidRequest,
        "size_gb",
        Some("size_gb"),
    ));
    v.push(post(
        "restore: no backups of the source",
        restore,
        json!({"from": "keep"}),
        404,
        NotFound,
        "no backup of database",
        None,
    ));
    v.push(post(
        "restore: absent backup id",
        restore,
        json!({"from": "keep", "backup": absent_backup}),
        404,
        NotFound,
        "no backup",
        None,
    ));
    v.push(post(
        "restore: into an existing name, from a database with no backup",
        "/v1/databases/keep/restore",
        json!({"from": "keep"}),
        404,
        NotFound,
        "no backup of database",
        None,
    ));

    // ---- Backup policies.
    let policy = "/v1/databases/keep/backup-policy";
    for (what, body, fragment, field) in [
        (
            "bad cron",
            json!({"schedule": "61 * * * *"}),
            "is not a cron expression",
            "schedule",
        ),
        (
            "cron of words",
            json!({"schedule": "every day"}),
            "is not a cron expression",
            "schedule",
        ),
        (
            "keep_last 0",
            json!({"keep_last": 0}),
            "keep_last must be",
            "keep_last",
        ),
        (
            "keep_days huge",
            json!({"keep_days": 100000}),
            "keep_days must be",
            "keep_days",
        ),
    ] {
        v.push(raw(
            format!("backup policy: {what}"),
            Method::PUT,
            policy,
            Some(serde_json::to_vec(&body).unwrap()),
            Some(JSON),
            400,
            InvalidRequest,
            fragment,
            Some(field),
        ));
    }
    v.push(raw(
        "backup policy: unknown field",
        Method::PUT,
        policy,
        Some(br#"{"every": "day"}"#.to_vec()),
        Some(JSON),
        400,
        InvalidRequest,
        "unknown field `every`",
        Some("body"),
    ));
    v.push(raw(
        "backup policy: absent database",
        Method::PUT,
        "/v1/databases/absent/backup-policy",
        Some(b"{}".to_vec()),
        Some(JSON),
        404,
        NotFound,
        "no database named",
        None,
    ));

    // ---- Queries, paths and methods.
    v.push(bare(
        "list operations: unknown query parameter",
        Method::GET,
        "/v1/operations?foo=1",
        400,
        InvalidRequest,
        "unknown field `foo`",
        Some("query"),
    ));
    v.push(bare(
        "list operations: target not a name",
        Method::GET,
        "/v1/operations?target=Keep",
        400,
        InvalidRequest,
        "contains 'K'",
        Some("name"),
    ));
    v.push(bare(
        "list operations: empty target",
        Method::GET,
        "/v1/operations?target=",
        400,
        InvalidRequest,
        "the name is empty",
        Some("name"),
    ));
    v.push(bare(
        "unknown path",
        Method::GET,
        "/v1/nothing",
        404,
        NotFound,
        "no such path",
        None,
    ));
    v.push(bare(
        "unknown API version",
        Method::GET,
        "/v2/databases",
        404,
        NotFound,
        "under /v1",
        None,
    ));
    v.push(bare(
        "root",
        Method::GET,
        "/",
        404,
        NotFound,
        "no such path",
        None,
    ));
    v.push(bare(
        "path below a database",
        Method::GET,
        format!("{dbs}/keep/extra"),
        404,
        NotFound,
        "no such path",
        None,
    ));
    v.push(bare(
        "PUT /v1/databases",
        Method::PUT,
        dbs,
        405,
        MethodNotAllowed,
        "method is not allowed",
        None,
    ));
    v.push(bare(
        "DELETE /v1/databases",
        Method::DELETE,
        dbs,
        405,
        MethodNotAllowed,
        "method is not allowed",
        None,
    ));
    v.push(bare(
        "PATCH a database",
        Method::PATCH,
        format!("{dbs}/keep"),
        405,
        MethodNotAllowed,
        "method is not allowed",
        None,
    ));
    v.push(bare(
        "POST a database",
        Method::POST,
        format!("{dbs}/keep"),
        405,
        MethodNotAllowed,
        "method is not allowed",
        None,
    ));
    v.push(bare(
        "GET sql-jobs of a database",
        Method::GET,
        jobs,
        405,
        MethodNotAllowed,
        "method is not allowed",
        None,
    ));
    v.push(bare(
        "POST /v1/operations",
        Method::POST,
        "/v1/operations",
        405,
        MethodNotAllowed,
        "method is not allowed",
        None,
    ));
    v.push(bare(
        "DELETE an operation",
        Method::DELETE,
        format!("/v1/operations/{keep_create_op}"),
        405,
        MethodNotAllowed,
        "method is not allowed",
        None,
    ));
    v
}

/// Name, id, engine, version, size, state and endpoint of a database.
type DbRow = (
    String,
    String,
    String,
    String,
    u32,
    DatabaseState,
    Option<String>,
);

/// What must not change: databases, operations and volumes (no timestamps,
/// no operating status, which the supervisor updates on its own).
#[derive(Debug, PartialEq)]
struct Snapshot {
    databases: Vec<DbRow>,
    operations: Vec<(String, OperationKind, String, OperationState)>,
    volumes: Vec<String>,
    connections: Vec<String>,
}

async fn snapshot(agent: &Agent) -> Snapshot {
    let databases = agent
        .client
        .list_databases()
        .await
        .unwrap()
        .into_iter()
        .map(|d| {
            let ep = d.endpoint.map(|e| format!("{}:{}", e.host, e.port));
            (d.name, d.id, d.engine, d.version, d.size_gb, d.state, ep)
        })
        .collect();
    let operations = agent
        .client
        .list_operations(None)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.id, o.kind, o.target, o.state))
        .collect();
    Snapshot {
        databases,
        operations,
        volumes: agent.dir_entries("volumes"),
        connections: agent.dir_entries("connections"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_requests_get_a_4xx_json_error_and_change_nothing() {
    let agent = Agent::start();
    let created = agent.create("keep").await;
    assert_eq!(created.state, OperationState::Succeeded, "{created:?}");

    let before = snapshot(&agent).await;
    assert_eq!(before.databases.len(), 1, "{before:?}");
    assert_eq!(before.databases[0].5, DatabaseState::Active, "{before:?}");
    assert_eq!(before.operations.len(), 1, "{before:?}");
    assert_eq!(before.volumes.len(), 1, "{before:?}");

    let http = reqwest::Client::new();
    let cases = cases(&created.id);
    assert!(cases.len() >= 45, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let url = format!("{}{}", agent.address, case.path);
        let mut req = http.request(case.method.clone(), &url);
        if let Some(ct) = case.content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(body) = &case.body {
            req = req.body(body.clone());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!(
                    "{}: {} {}: request failed: {e}",
                    case.what, case.method, case.path
                ));
                continue;
            }
        };
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.text().await.unwrap_or_default();
        let mut problems = Vec::new();
        if status != case.status {
            problems.push(format!("status {status}, want {}", case.status));
        }
        if !ctype.starts_with("application/json") {
            problems.push(format!("Content-Type {ctype:?}, want application/json"));
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Err(e) => problems.push(format!("body is not an ErrorBody ({e})")),
            Ok(b) => {
                let e = b.error;
                if e.code != case.code {
                    problems.push(format!("code {:?}, want {:?}", e.code, case.code));
                }
                if e.message.trim().is_empty() {
                    problems.push("empty message".into());
                }
                if !e.message.contains(&case.fragment) {
                    problems.push(format!("message lacks {:?}", case.fragment));
                }
                if e.field.as_deref() != case.field {
                    problems.push(format!("field {:?}, want {:?}", e.field, case.field));
                }
            }
        }
        if !problems.is_empty() {
            let shown: String = text.chars().take(400).collect();
            failures.push(format!(
                "{}: {} {}: {}; body: {shown}",
                case.what,
                case.method,
                case.path.chars().take(120).collect::<String>(),
                problems.join(", ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    let after = snapshot(&agent).await;
    assert_eq!(after, before, "an invalid request changed something");
    let keep = agent.client.get_database("keep").await.unwrap();
    assert_eq!(keep.state, DatabaseState::Active, "{keep:?}");
    eprintln!(
        "{} invalid requests answered with 4xx JSON errors; nothing changed",
        cases.len()
    );
}
