//! Pure rendering: the jobs dbaas would submit for a database, from typed
//! values and the runtime's configuration, contacting nothing. The runtime
//! registers exactly these; `dbaas render` prints them for review.

use dbaas_drivers::{DriverError, EngineSpec, Result};
use dbaas_nomad::Job;
use sha2::{Digest, Sha256};

use crate::jobspec::{
    AdminSqlJobValues, ConfigureJobValues, EngineJobValues, GrantSpec, JobTemplate, RoleSpec,
    SchemaSpec,
};
use crate::runtime::NomadRuntimeConfig;

/// The job meta key holding the SHA-256 of the job dbaas registered: how a
/// re-submission of the same job is recognised without comparing against
/// Nomad's canonicalised copy (which gains defaults dbaas never sent).
pub const SPEC_HASH_META: &str = "dbaas_spec_sha256";

/// The only engine this runtime knows.
pub(crate) const ENGINE: &str = "postgresql";

/// The suffix of a database's admin SQL job ID (`<instance>-admin-sql`).
pub const ADMIN_SQL_SUFFIX: &str = "-admin-sql";

/// The suffix of a database's configuration job ID (`<instance>-configure`).
pub const CONFIGURE_SUFFIX: &str = "-configure";

pub(crate) fn err(what: impl std::fmt::Display) -> DriverError {
    DriverError::new(what.to_string())
}

/// The job ID of an instance: the instance name itself, which the control
/// plane derives from the database's name and id (`dbaas-NAME-ID8`), so
/// the same database always finds the same job.
pub fn job_id(instance: &str) -> Result<String> {
    let ok = !instance.is_empty()
        && instance.len() <= 100
        && instance
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !instance.starts_with('-');
    if ok {
        Ok(instance.to_string())
    } else {
        Err(err(format!(
            "instance name {instance:?} cannot name a Nomad job: only a-z, 0-9 and '-' (at most 100, not starting with '-')"
        )))
    }
}

/// CPU (MHz) and memory (MiB) for a database of `size_gb`: a base, plus a
/// little per GB of data (more data wants more cache), capped so a large
/// database still fits a host.
pub fn resources_for(size_gb: u32) -> (u32, u32) {
    let cpu = 500u32.saturating_add(size_gb.saturating_mul(25)).min(8000);
    let memory = 512u32.saturating_add(size_gb.saturating_mul(32)).min(16384);
    (cpu, memory)
}

/// Nomad interpolates `${...}` in a job's strings when it runs the task, so
/// a value dbaas passes must be inert text: no `$`, braces, quotes,
/// backslashes or control characters. (The template conversion alone keeps
/// the job's structure; this keeps Nomad's run-time interpolation out.)
pub(crate) fn plain(what: &str, value: &str) -> Result<()> {
    let bad = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_control() || matches!(c, '$' | '{' | '}' | '"' | '\\'));
    if bad {
        return Err(err(format!(
            "{what} {value:?} cannot go into a Nomad job: it must be non-empty, without control characters, '$', braces, quotes or backslashes"
        )));
    }
    Ok(())
}

/// A PostgreSQL name the configuration job may create: lower-case letters,
/// digits and `_`, not starting with a digit, at most 63 bytes.
fn sql_name(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "{what} {value:?} is not a name dbaas creates: use a-z, 0-9 and '_', not starting with a digit, at most 63 characters"
        )))
    }
}

/// SHA-256 of the job as dbaas renders it (before the hash is added).
pub(crate) fn spec_hash(job: &Job) -> String {
    let bytes = serde_json::to_vec(job).expect("a job serialises");
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn with_hash(mut job: Job) -> Job {
    let hash = spec_hash(&job);
    job.meta
        .get_or_insert_with(Default::default)
        .insert(SPEC_HASH_META.into(), hash);
    job
}

fn template(
    configured: &Option<String>,
    what: &str,
    builtin: fn() -> std::result::Result<JobTemplate, crate::TemplateError>,
) -> Result<JobTemplate> {
    match configured {
        Some(text) => JobTemplate::parse(&format!("(configured {what} template)"), text),
        None => builtin(),
    }
    .map_err(err)
}

fn engine_image<'a>(spec: &EngineSpec, cfg: &'a NomadRuntimeConfig) -> Result<&'a String> {
    if spec.engine != ENGINE {
        return Err(err(format!(
            "engine {:?} is not run by the Nomad runtime (only {ENGINE})",
            spec.engine
        )));
    }
    let image = cfg.images.get(&spec.version).ok_or_else(|| {
        err(format!(
            "{ENGINE} {} has no container image configured for Nomad; add it to the runtime's images",
            spec.version
        ))
    })?;
    plain("the image", image)?;
    Ok(image)
}

fn endpoint(spec: &EngineSpec) -> Result<(String, u16)> {
    plain("the endpoint host", &spec.endpoint.host)?;
    if spec.endpoint.port == 0 {
        return Err(err("the endpoint has no port"));
    }
    Ok((spec.endpoint.host.clone(), spec.endpoint.port))
}

/// The engine job's typed values for `spec` on `pair`, checked.
pub fn engine_job_values(
    spec: &EngineSpec,
    cfg: &NomadRuntimeConfig,
    pair: &str,
) -> Result<EngineJobValues> {
    let id = job_id(&spec.instance)?;
    let image = engine_image(spec, cfg)?;
    let volume_path = spec.volume.mount_path.to_string_lossy().into_owned();
    if !spec.volume.mount_path.is_absolute() {
        return Err(err(format!(
            "the volume mount point {volume_path:?} is not an absolute path"
        )));
    }
    plain("the host pair", pair)?;
    plain("the volume mount point", &volume_path)?;
    plain("the superuser", &cfg.superuser)?;
    if spec.endpoint.port == 0 {
        return Err(err("the endpoint has no port"));
    }
    let (cpu_mhz, memory_mb) = resources_for(spec.volume.size_gb);
    Ok(EngineJobValues {
        service_name: id.clone(),
        job_id: id,
        image: image.clone(),
        pair: pair.to_string(),
        volume_path,
        port: spec.endpoint.port,
        cpu_mhz,
        memory_mb,
        superuser: cfg.superuser.clone(),
    })
}

/// The engine's service job for `spec` on host pair `pair`, in Nomad's JSON
/// job form, with its hash in the meta ([`SPEC_HASH_META`]).
pub fn render_engine_job(spec: &EngineSpec, cfg: &NomadRuntimeConfig, pair: &str) -> Result<Job> {
    let values = engine_job_values(spec, cfg, pair)?;
    let t = template(&cfg.template, "engine", JobTemplate::engine)?;
    Ok(with_hash(t.render(&values.to_vars()).map_err(err)?))
}

/// The engine's service job as filled HCL (what `nomad job run` would take).
pub fn render_engine_job_hcl(
    spec: &EngineSpec,
    cfg: &NomadRuntimeConfig,
    pair: &str,
) -> Result<String> {
    let values = engine_job_values(spec, cfg, pair)?;
    let t = template(&cfg.template, "engine", JobTemplate::engine)?;
    t.render_hcl(&values.to_vars()).map_err(err)
}

/// The admin SQL job's typed values for `spec` on `pair`, checked.
pub fn admin_sql_job_values(
    spec: &EngineSpec,
    cfg: &NomadRuntimeConfig,
    pair: &str,
) -> Result<AdminSqlJobValues> {
    let instance = job_id(&spec.instance)?;
    let engine_image = engine_image(spec, cfg)?;
    let (host, port) = endpoint(spec)?;
    // The engine's own image has psql, of the engine's version.
    let client_image = cfg.client_image.as_ref().unwrap_or(engine_image);
    plain("the client image", client_image)?;
    plain("the fetch image", &cfg.fetch_image)?;
    plain("the host pair", pair)?;
    plain("the superuser", &cfg.superuser)?;
    plain("the object-store URL", &cfg.object_store_url)?;
    if !(cfg.object_store_url.starts_with("https://")
        || cfg.object_store_url.starts_with("http://"))
    {
        return Err(err(format!(
            "the object-store URL {:?} for SQL objects must be an http(s) URL",
            cfg.object_store_url
        )));
    }
    Ok(AdminSqlJobValues {
        job_id: format!("{instance}{ADMIN_SQL_SUFFIX}"),
        instance,
        pair: pair.to_string(),
        host,
        port,
        object_store_url: cfg.object_store_url.trim_end_matches('/').to_string(),
        client_image: client_image.clone(),
        fetch_image: cfg.fetch_image.clone(),
        superuser: cfg.superuser.clone(),
    })
}

/// The database's parameterized admin SQL job (`<instance>-admin-sql`), in
/// Nomad's JSON job form with its hash in the meta.
pub fn render_admin_sql_job(
    spec: &EngineSpec,
    cfg: &NomadRuntimeConfig,
    pair: &str,
) -> Result<Job> {
    let values = admin_sql_job_values(spec, cfg, pair)?;
    let t = template(&cfg.admin_sql_template, "admin SQL", JobTemplate::admin_sql)?;
    Ok(with_hash(t.render(&values.to_vars()).map_err(err)?))
}

/// The admin SQL job as filled HCL.
pub fn render_admin_sql_job_hcl(
    spec: &EngineSpec,
    cfg: &NomadRuntimeConfig,
    pair: &str,
) -> Result<String> {
    let values = admin_sql_job_values(spec, cfg, pair)?;
    let t = template(&cfg.admin_sql_template, "admin SQL", JobTemplate::admin_sql)?;
    t.render_hcl(&values.to_vars()).map_err(err)
}

/// What the configuration job applies in one database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseConfiguration {
    /// The database the schemas and grants are applied in.
    pub database: String,
    /// Roles to create if absent.
    pub roles: Vec<RoleSpec>,
    /// Schemas to create if absent.
    pub schemas: Vec<SchemaSpec>,
    /// Schema privileges to grant.
    pub grants: Vec<GrantSpec>,
}

/// The configuration job's typed values, checked: every name is one
/// PostgreSQL would take unquoted (the job quotes them anyway).
pub fn configure_job_values(
    spec: &EngineSpec,
    cfg: &NomadRuntimeConfig,
    pair: &str,
    conf: &DatabaseConfiguration,
) -> Result<ConfigureJobValues> {
    let instance = job_id(&spec.instance)?;
    let engine_image = engine_image(spec, cfg)?;
    let (host, port) = endpoint(spec)?;
    let client_image = cfg.client_image.as_ref().unwrap_or(engine_image);
    plain("the client image", client_image)?;
    plain("the host pair", pair)?;
    plain("the superuser", &cfg.superuser)?;
    sql_name("database", &conf.database)?;
    for r in &conf.roles {
        sql_name("role", &r.name)?;
        for m in &r.member_of {
            sql_name("role", m)?;
        }
    }
    for s in &conf.schemas {
        sql_name("schema", &s.name)?;
        sql_name("role", &s.owner)?;
    }
    for g in &conf.grants {
        sql_name("role", &g.role)?;
        sql_name("schema", &g.schema)?;
    }
    Ok(ConfigureJobValues {
        job_id: format!("{instance}{CONFIGURE_SUFFIX}"),
        instance,
        pair: pair.to_string(),
        host,
        port,
        database: conf.database.clone(),
        roles: conf.roles.clone(),
        schemas: conf.schemas.clone(),
        grants: conf.grants.clone(),
        client_image: client_image.clone(),
        superuser: cfg.superuser.clone(),
    })
}

/// The database's configuration batch job (`<instance>-configure`), in
/// Nomad's JSON job form with its hash in the meta.
pub fn render_configure_job(
    spec: &EngineSpec,
    cfg: &NomadRuntimeConfig,
    pair: &str,
    conf: &DatabaseConfiguration,
) -> Result<Job> {
    let values = configure_job_values(spec, cfg, pair, conf)?;
    let t = template(&cfg.configure_template, "configure", JobTemplate::configure)?;
    Ok(with_hash(t.render(&values.to_vars()).map_err(err)?))
}

/// The configuration job as filled HCL.
pub fn render_configure_job_hcl(
    spec: &EngineSpec,
    cfg: &NomadRuntimeConfig,
    pair: &str,
    conf: &DatabaseConfiguration,
) -> Result<String> {
    let values = configure_job_values(spec, cfg, pair, conf)?;
    let t = template(&cfg.configure_template, "configure", JobTemplate::configure)?;
    t.render_hcl(&values.to_vars()).map_err(err)
}
