//! The REST API, under `/v1`.
//!
//! Routes are declared here once; the OpenAPI document is generated from
//! the same declarations ([`ApiDoc`]), checked in at `openapi/dbaas-v1.json`
//! and served at `/v1/openapi.json`. A test fails when they drift.
//!
//! Every request that changes something answers 202 with its operation.
//! Every error is `{"error": {"code", "message", "field"?}}` with a stable
//! code; malformed JSON, unknown fields, oversized bodies, unknown paths
//! and methods all get the same shape.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dbaas_control::ControlPlane;
use dbaas_model::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::OpenApi;

/// Largest request body accepted: a SQL job's text (1 MiB) plus JSON.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// An error as the API returns it.
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.0.body())).into_response()
    }
}

impl From<JsonRejection> for HttpError {
    fn from(r: JsonRejection) -> Self {
        let e = match &r {
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes; send less (split SQL into several jobs)"),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::invalid(
                "body",
                "the request body must be JSON: send the header Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::invalid("body", format!("the request body is not valid JSON: {}", r.body_text()))
            }
            JsonRejection::JsonDataError(_) => {
                ApiError::invalid("body", format!("the request body does not match the expected fields: {}", r.body_text()))
            }
            _ => ApiError::invalid("body", r.body_text()),
        };
        HttpError(e)
    }
}

impl From<PathRejection> for HttpError {
    fn from(r: PathRejection) -> Self {
        HttpError(ApiError::invalid("path", r.body_text()))
    }
}

impl From<QueryRejection> for HttpError {
    fn from(r: QueryRejection) -> Self {
        HttpError(ApiError::invalid("query", r.body_text()))
    }
}

/// JSON body extractor whose rejections are API errors. The body must be
/// a JSON object: serde would otherwise also read an array as a struct's
/// fields in order (`["name"]` as `{"name": "name"}`).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, HttpError> {
        let axum::Json(JsonObject(value)) =
            axum::Json::<JsonObject<T>>::from_request(req, state).await?;
        Ok(Json(value))
    }
}

/// A `T` that deserialises from a JSON object only.
struct JsonObject<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(ObjectOnly(std::marker::PhantomData))
            .map(JsonObject)
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path extractor whose rejections are API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(HttpError))]
struct ApiPath<T>(T);

/// Query extractor whose rejections are API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(HttpError))]
struct ApiQuery<T>(T);

type ApiResult<T> = Result<T, HttpError>;

fn accepted(op: Operation) -> Response {
    (StatusCode::ACCEPTED, axum::Json(op)).into_response()
}

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dbaas",
        description = "Databases as a service: create, inspect and delete databases, run SQL jobs, follow operations.",
        version = "1"
    ),
    paths(
        health,
        openapi_json_handler,
        create_database,
        list_databases,
        get_database,
        get_connection,
        delete_database,
        resize_database,
        submit_sql,
        get_sql_job,
        list_operations,
        get_operation,
        create_backup,
        list_backups,
        get_backup,
        delete_backup,
        restore_database,
        set_backup_policy,
        verify_backup,
        list_hosts,
        doctor,
        doctor_fix
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode))
)]
pub struct ApiDoc;

/// The generated OpenAPI document, pretty-printed with a final newline.
pub fn openapi_json() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("OpenAPI serialises");
    s.push('\n');
    s
}

/// The API's routes over a control plane.
pub fn router(cp: ControlPlane) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi_json_handler))
        .route("/v1/databases", get(list_databases).post(create_database))
        .route(
            "/v1/databases/{name}",
            get(get_database).delete(delete_database),
        )
        .route("/v1/databases/{name}/connection", get(get_connection))
        .route(
            "/v1/databases/{name}/resize",
            axum::routing::post(resize_database),
        )
        .route(
            "/v1/databases/{name}/sql-jobs",
            axum::routing::post(submit_sql),
        )
        .route("/v1/sql-jobs/{id}", get(get_sql_job))
        .route(
            "/v1/databases/{name}/backups",
            get(list_backups).post(create_backup),
        )
        .route(
            "/v1/databases/{name}/restore",
            axum::routing::post(restore_database),
        )
        .route("/v1/backups/{id}", get(get_backup).delete(delete_backup))
        .route(
            "/v1/backups/{id}/verify",
            axum::routing::post(verify_backup),
        )
        .route(
            "/v1/databases/{name}/backup-policy",
            axum::routing::put(set_backup_policy),
        )
        .route("/v1/operations", get(list_operations))
        .route("/v1/operations/{id}", get(get_operation))
        .route("/v1/hosts", get(list_hosts))
        .route("/v1/doctor", get(doctor))
        .route("/v1/doctor/fix", axum::routing::post(doctor_fix))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(cp)
}

async fn not_found() -> HttpError {
    HttpError(ApiError::not_found(
        "no such path; the API lives under /v1 (see /v1/openapi.json)",
    ))
}

async fn method_not_allowed() -> HttpError {
    HttpError(ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this method is not allowed on this path (see /v1/openapi.json)",
    ))
}

/// Liveness of the agent.
#[utoipa::path(get, path = "/v1/health", tag = "agent",
    responses((status = 200, description = "The agent is up", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "agent",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json_handler() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
        .into_response()
}

/// Create a database. Answers at once with the operation; follow it with
/// `GET /v1/operations/{id}`.
#[utoipa::path(post, path = "/v1/databases", tag = "databases",
    request_body = CreateDatabaseRequest,
    responses(
        (status = 202, description = "Accepted: the create operation", body = Operation),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody)))]
async fn create_database(
    State(cp): State<ControlPlane>,
    Json(req): Json<CreateDatabaseRequest>,
) -> ApiResult<Response> {
    Ok(accepted(cp.create_database(req).await?))
}

/// List databases.
#[utoipa::path(get, path = "/v1/databases", tag = "databases",
    responses((status = 200, description = "All databases", body = DatabaseList)))]
async fn list_databases(State(cp): State<ControlPlane>) -> ApiResult<Json<DatabaseList>> {
    Ok(Json(DatabaseList {
        databases: cp.list_databases().await?,
    }))
}

/// Show a database.
#[utoipa::path(get, path = "/v1/databases/{name}", tag = "databases",
    params(("name" = String, Path, description = "Database name")),
    responses(
        (status = 200, description = "The database", body = Database),
        (status = 400, description = "Invalid name", body = ErrorBody),
        (status = 404, description = "No such database", body = ErrorBody)))]
async fn get_database(
    State(cp): State<ControlPlane>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Database>> {
    Ok(Json(cp.get_database(&name).await?))
}

/// Connection details of an ACTIVE database, password included.
#[utoipa::path(get, path = "/v1/databases/{name}/connection", tag = "databases",
    params(("name" = String, Path, description = "Database name")),
    responses(
        (status = 200, description = "How to connect", body = Connection),
        (status = 404, description = "No such database", body = ErrorBody),
        (status = 409, description = "Not ACTIVE yet", body = ErrorBody)))]
async fn get_connection(
    State(cp): State<ControlPlane>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Connection>> {
    Ok(Json(cp.connection(&name).await?))
}

/// Delete a database and everything provisioned for it.
#[utoipa::path(delete, path = "/v1/databases/{name}", tag = "databases",
    params(("name" = String, Path, description = "Database name")),
    responses(
        (status = 202, description = "Accepted: the delete operation", body = Operation),
        (status = 404, description = "No such database", body = ErrorBody)))]
async fn delete_database(
    State(cp): State<ControlPlane>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(accepted(cp.delete_database(&name).await?))
}

/// Grow a database's data volume. The database keeps serving while its
/// volume grows; volumes never shrink.
#[utoipa::path(post, path = "/v1/databases/{name}/resize", tag = "databases",
    params(("name" = String, Path, description = "Database name")),
    request_body = ResizeDatabaseRequest,
    responses(
        (status = 202, description = "Accepted: the resize operation", body = Operation),
        (status = 400, description = "Invalid request (a size not larger than the current one)", body = ErrorBody),
        (status = 404, description = "No such database", body = ErrorBody),
        (status = 409, description = "The database is not ACTIVE", body = ErrorBody)))]
async fn resize_database(
    State(cp): State<ControlPlane>,
    ApiPath(name): ApiPath<String>,
    Json(req): Json<ResizeDatabaseRequest>,
) -> ApiResult<Response> {
    Ok(accepted(cp.resize_database(&name, req).await?))
}

/// Run SQL against a database as its owner. The operation's id is the
/// job's id: read the output at `GET /v1/sql-jobs/{id}`.
#[utoipa::path(post, path = "/v1/databases/{name}/sql-jobs", tag = "sql",
    params(("name" = String, Path, description = "Database name")),
    request_body = SqlJobRequest,
    responses(
        (status = 202, description = "Accepted: the job's operation", body = Operation),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "No such database", body = ErrorBody),
        (status = 409, description = "The database is not ACTIVE", body = ErrorBody)))]
async fn submit_sql(
    State(cp): State<ControlPlane>,
    ApiPath(name): ApiPath<String>,
    Json(req): Json<SqlJobRequest>,
) -> ApiResult<Response> {
    Ok(accepted(cp.submit_sql(&name, req).await?))
}

/// A SQL job and its output.
#[utoipa::path(get, path = "/v1/sql-jobs/{id}", tag = "sql",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = SqlJob),
        (status = 404, description = "No such job", body = ErrorBody)))]
async fn get_sql_job(
    State(cp): State<ControlPlane>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SqlJob>> {
    Ok(Json(cp.get_sql_job(&id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct OperationFilter {
    /// Only operations on this database.
    target: Option<String>,
}

/// The host pool: each pair, its zone, capacity and what the databases
/// placed on it hold. Empty when the agent places nothing (local mode).
#[utoipa::path(get, path = "/v1/hosts", tag = "hosts",
    responses((status = 200, description = "The host pairs", body = HostPairList)))]
async fn list_hosts(State(cp): State<ControlPlane>) -> ApiResult<Json<HostPairList>> {
    Ok(Json(HostPairList {
        pairs: cp.host_pool().await?,
    }))
}

/// Cloud resources tagged by dbaas that no database owns (volumes,
/// addresses), and databases whose resources are gone. Changes nothing.
#[utoipa::path(get, path = "/v1/doctor", tag = "hosts",
    responses(
        (status = 200, description = "What was found", body = DoctorReport),
        (status = 503, description = "A driver could not list its resources", body = ErrorBody)))]
async fn doctor(State(cp): State<ControlPlane>) -> ApiResult<Json<DoctorReport>> {
    Ok(Json(cp.doctor(false).await?))
}

/// As `GET /v1/doctor`, then removes the orphaned resources (never a
/// database). Running it again finds nothing more to remove.
#[utoipa::path(post, path = "/v1/doctor/fix", tag = "hosts",
    responses(
        (status = 200, description = "What was found and removed", body = DoctorReport),
        (status = 503, description = "A driver could not list its resources", body = ErrorBody)))]
async fn doctor_fix(State(cp): State<ControlPlane>) -> ApiResult<Json<DoctorReport>> {
    Ok(Json(cp.doctor(true).await?))
}

/// List operations, newest first.
#[utoipa::path(get, path = "/v1/operations", tag = "operations",
    params(OperationFilter),
    responses((status = 200, description = "Operations", body = OperationList)))]
async fn list_operations(
    State(cp): State<ControlPlane>,
    ApiQuery(filter): ApiQuery<OperationFilter>,
) -> ApiResult<Json<OperationList>> {
    Ok(Json(OperationList {
        operations: cp.list_operations(filter.target.as_deref()).await?,
    }))
}

/// Show an operation and its steps.
#[utoipa::path(get, path = "/v1/operations/{id}", tag = "operations",
    params(("id" = String, Path, description = "Operation id")),
    responses(
        (status = 200, description = "The operation", body = Operation),
        (status = 404, description = "No such operation", body = ErrorBody)))]
async fn get_operation(
    State(cp): State<ControlPlane>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Operation>> {
    Ok(Json(cp.get_operation(&id).await?))
}

/// Take a base backup of a database into the backup store. The
/// operation's id is the backup's id.
#[utoipa::path(post, path = "/v1/databases/{name}/backups", tag = "backups",
    params(("name" = String, Path, description = "Database name")),
    responses(
        (status = 202, description = "Accepted: the backup operation", body = Operation),
        (status = 404, description = "No such database", body = ErrorBody),
        (status = 409, description = "The database is not ACTIVE", body = ErrorBody)))]
async fn create_backup(
    State(cp): State<ControlPlane>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(accepted(cp.backup_database(&name).await?))
}

/// Backups of a database (of every database that had this name), oldest
/// first, read from the backup store itself.
#[utoipa::path(get, path = "/v1/databases/{name}/backups", tag = "backups",
    params(("name" = String, Path, description = "Database name"), BackupQuery),
    responses(
        (status = 200, description = "Its backups", body = BackupList),
        (status = 404, description = "No such database and no backups", body = ErrorBody)))]
async fn list_backups(
    State(cp): State<ControlPlane>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<BackupQuery>,
) -> ApiResult<Json<BackupList>> {
    Ok(Json(BackupList {
        backups: cp.list_backups(&name, q.store.as_deref()).await?,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct BackupQuery {
    /// Read another cloud's store, named in the agent's configuration.
    store: Option<String>,
}

/// Show a backup.
#[utoipa::path(get, path = "/v1/backups/{id}", tag = "backups",
    params(("id" = String, Path, description = "Backup id")),
    responses(
        (status = 200, description = "The backup", body = Backup),
        (status = 404, description = "No such backup", body = ErrorBody)))]
async fn get_backup(
    State(cp): State<ControlPlane>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Backup>> {
    Ok(Json(cp.get_backup(&id).await?))
}

/// Delete a backup from the store.
#[utoipa::path(delete, path = "/v1/backups/{id}", tag = "backups",
    params(("id" = String, Path, description = "Backup id")),
    responses(
        (status = 202, description = "Accepted: the delete operation", body = Operation),
        (status = 404, description = "No such backup", body = ErrorBody)))]
async fn delete_backup(
    State(cp): State<ControlPlane>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(accepted(cp.delete_backup(&id).await?))
}

/// Restore a backup into a new database named in the path.
#[utoipa::path(post, path = "/v1/databases/{name}/restore", tag = "backups",
    params(("name" = String, Path, description = "Name of the new database")),
    request_body = RestoreDatabaseRequest,
    responses(
        (status = 202, description = "Accepted: the restore operation", body = Operation),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "No such backup", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody)))]
async fn restore_database(
    State(cp): State<ControlPlane>,
    ApiPath(name): ApiPath<String>,
    Json(req): Json<RestoreDatabaseRequest>,
) -> ApiResult<Response> {
    Ok(accepted(cp.restore_database(&name, req).await?))
}

/// Set a database's scheduled backups and retention (an empty policy
/// clears it). A plain attribute of the database: answered at once.
#[utoipa::path(put, path = "/v1/databases/{name}/backup-policy", tag = "backups",
    params(("name" = String, Path, description = "Database name")),
    request_body = BackupPolicy,
    responses(
        (status = 200, description = "The database, with its policy", body = Database),
        (status = 400, description = "Invalid policy", body = ErrorBody),
        (status = 404, description = "No such database", body = ErrorBody)))]
async fn set_backup_policy(
    State(cp): State<ControlPlane>,
    ApiPath(name): ApiPath<String>,
    Json(policy): Json<BackupPolicy>,
) -> ApiResult<Json<Database>> {
    Ok(Json(cp.set_backup_policy(&name, policy).await?))
}

/// Run a restore drill of a backup: restore it into a throw-away engine,
/// check that it starts, reaches its end point and answers a query, record
/// the result on the backup, remove the engine.
#[utoipa::path(post, path = "/v1/backups/{id}/verify", tag = "backups",
    params(("id" = String, Path, description = "Backup id")),
    responses(
        (status = 202, description = "Accepted: the drill's operation", body = Operation),
        (status = 404, description = "No such backup", body = ErrorBody)))]
async fn verify_backup(
    State(cp): State<ControlPlane>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    Ok(accepted(cp.verify_backup(&id).await?))
}
