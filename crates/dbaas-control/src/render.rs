//! `dbaas render`: what a create would submit, computed offline from the
//! agent's configuration alone (it contacts nothing), so that operators
//! can review it as they would with `nomad job plan`: the engine, admin
//! SQL and configuration jobs for Nomad, the resource group for
//! Pacemaker, and the requests to Cinder and Neutron.
//!
//! Ids that only exist once the create runs (the database's own, its
//! volume's, its floating IP's; the hosts' server ids and subnet when the
//! pool does not name them) are shown as the all-zero UUID, and listed in
//! `placeholders`.

use dbaas_config::AgentConfig;
use dbaas_drivers::{EngineSpec, Volume};
use dbaas_model::Endpoint;
use serde::Serialize;
use serde_json::{json, Value};

/// The id shown for what the create will be given.
pub const PLACEHOLDER_ID: &str = "00000000-0000-0000-0000-000000000000";
/// The address shown for the floating IP the create will allocate (from
/// TEST-NET-3, RFC 5737).
pub const PLACEHOLDER_ADDRESS: &str = "203.0.113.10";

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub name: String,
    pub size_gb: u32,
    /// The engine version; the configuration's default when `None`.
    pub version: Option<String>,
    /// The host pair; the one placement would choose on an empty pool
    /// when `None`.
    pub pair: Option<String>,
}

/// One Nomad job, as JSON (the API's job form) and as filled HCL.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedJob {
    pub json: Value,
    pub hcl: String,
}

/// Everything a create of the request would submit.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub database: String,
    /// The instance name every resource is named after.
    pub instance: String,
    pub pair: String,
    pub engine_job: RenderedJob,
    pub admin_sql_job: RenderedJob,
    pub configure_job: RenderedJob,
    /// The Pacemaker CIB fragment (XML).
    pub pacemaker_fragment: String,
    /// `POST /v3/volumes` to Cinder.
    pub volume_request: Value,
    /// The floating IP as Neutron is asked for it (created, then tagged,
    /// then associated with the pair's VIP port).
    pub floating_ip_request: Value,
    /// Values shown for what only the create will know.
    pub placeholders: Vec<String>,
}

/// Renders what creating `req` would submit.
pub fn render(cfg: &AgentConfig, req: &RenderRequest) -> Result<Rendered, String> {
    dbaas_model::validate_name(&req.name).map_err(|e| e.message)?;
    let version = match &req.version {
        Some(v) => v.clone(),
        None => cfg
            .engine
            .get("postgresql")
            .map(|e| e.default_version.clone())
            .ok_or("the configuration names no postgresql engine")?,
    };
    let pool = cfg.host_pool()?;
    let pair_id = match &req.pair {
        Some(p) => p.clone(),
        None => crate::placement::place(&pool, &[], req.size_gb)?,
    };
    let pair = pool.pair(&pair_id).ok_or_else(|| {
        format!(
            "no host pair {pair_id:?} in the configuration (host_pair blocks: {})",
            pool.pairs()
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let pair_cfg = &cfg.host_pair[&pair_id];
    let mut placeholders = vec![
        format!("database id: instance name ends in 00000000"),
        format!("volume id: {PLACEHOLDER_ID}"),
        format!("floating IP id: {PLACEHOLDER_ID}, address {PLACEHOLDER_ADDRESS}"),
    ];
    let instance = format!("dbaas-{}-00000000", req.name);
    let pacemaker = cfg.pacemaker.clone().unwrap_or_default();
    let (mount_path, _) = crate::ha::mount_points(&pacemaker, &instance);
    let spec = EngineSpec {
        instance: instance.clone(),
        engine: "postgresql".into(),
        version: version.clone(),
        volume: Volume {
            name: instance.clone(),
            id: PLACEHOLDER_ID.into(),
            size_gb: req.size_gb,
            mount_path: mount_path.clone(),
        },
        endpoint: Endpoint {
            host: PLACEHOLDER_ADDRESS.into(),
            port: cfg
                .openstack
                .as_ref()
                .and_then(|o| o.addresses.as_ref())
                .map_or(5432, |a| a.port),
        },
    };

    // Nomad.
    let nomad = nomad_config(cfg);
    let err = |e: dbaas_drivers::DriverError| e.to_string();
    let job = |json: dbaas_nomad::Job, hcl: String| -> Result<RenderedJob, String> {
        Ok(RenderedJob {
            json: serde_json::to_value(json).map_err(|e| e.to_string())?,
            hcl,
        })
    };
    let engine_job = job(
        dbaas_nomad_runtime::render_engine_job(&spec, &nomad, &pair_id).map_err(err)?,
        dbaas_nomad_runtime::render_engine_job_hcl(&spec, &nomad, &pair_id).map_err(err)?,
    )?;
    let admin_sql_job = job(
        dbaas_nomad_runtime::render_admin_sql_job(&spec, &nomad, &pair_id).map_err(err)?,
        dbaas_nomad_runtime::render_admin_sql_job_hcl(&spec, &nomad, &pair_id).map_err(err)?,
    )?;
    let conf = dbaas_nomad_runtime::DatabaseConfiguration {
        database: req.name.clone(),
        roles: vec![dbaas_nomad_runtime::RoleSpec {
            name: req.name.clone(),
            login: true,
            member_of: vec![],
        }],
        schemas: vec![],
        grants: vec![],
    };
    let configure_job = job(
        dbaas_nomad_runtime::render_configure_job(&spec, &nomad, &pair_id, &conf).map_err(err)?,
        dbaas_nomad_runtime::render_configure_job_hcl(&spec, &nomad, &pair_id, &conf)
            .map_err(err)?,
    )?;

    // Pacemaker.
    let (server_ids, subnet_id) = crate::ha::pair_ids(&pair_id, pair_cfg).unwrap_or_else(|why| {
        placeholders.push(format!("{why}: shown as {PLACEHOLDER_ID}"));
        let id = |v: Option<&String>| v.cloned().unwrap_or_else(|| PLACEHOLDER_ID.to_string());
        let ids = pair_cfg.server_ids.as_ref();
        (
            [id(ids.map(|s| &s[0])), id(ids.map(|s| &s[1]))],
            id(pair_cfg.subnet_id.as_ref()),
        )
    });
    let group = crate::ha::group(
        &pacemaker,
        &pair_id,
        pair_cfg,
        server_ids,
        subnet_id,
        &instance,
        PLACEHOLDER_ID,
        (
            PLACEHOLDER_ID.to_string(),
            PLACEHOLDER_ADDRESS.parse().expect("a valid address"),
        ),
    );
    let credentials = dbaas_pacemaker::Credentials::Cloud(
        dbaas_pacemaker::CloudName::parse(&pacemaker.cloud)
            .map_err(|e| format!("pacemaker.cloud: {e}"))?,
    );
    let pacemaker_fragment =
        dbaas_pacemaker::render_create(&group, &credentials).map_err(|e| e.to_string())?;

    // OpenStack.
    let os = cfg.openstack.clone();
    let volumes = os
        .as_ref()
        .and_then(|o| o.volumes.clone())
        .unwrap_or_default();
    let volume_request = serde_json::to_value(volumes.create_request(&instance, req.size_gb))
        .map_err(|e| e.to_string())?;
    let floating_ip_request = match os.as_ref().and_then(|o| o.addresses.clone()) {
        Some(a) => {
            let key = a.key(&instance);
            json!({
                "external_network": a.external_network,
                "description": key.description,
                "tags": key.tags,
                "port_id": pair.vip_port_id,
            })
        }
        None => json!({
            "external_network": null,
            "note": "no openstack { addresses { external_network = ... } } block: addresses come from the local pool",
        }),
    };

    Ok(Rendered {
        database: req.name.clone(),
        instance,
        pair: pair_id,
        engine_job,
        admin_sql_job,
        configure_job,
        pacemaker_fragment,
        volume_request,
        floating_ip_request,
        placeholders,
    })
}

/// The Nomad runtime's settings from the `nomad` block (defaults for
/// what it leaves out).
pub fn nomad_config(cfg: &AgentConfig) -> dbaas_nomad_runtime::NomadRuntimeConfig {
    let mut n = dbaas_nomad_runtime::NomadRuntimeConfig::default();
    if let Some(c) = &cfg.nomad {
        if !c.images.is_empty() {
            n.images = c.images.clone();
        }
        if let Some(s) = &c.superuser {
            n.superuser = s.clone();
        }
        if c.client_image.is_some() {
            n.client_image = c.client_image.clone();
        }
        if let Some(f) = &c.fetch_image {
            n.fetch_image = f.clone();
        }
        if let Some(u) = &c.object_store_url {
            n.object_store_url = u.clone();
        }
    }
    n
}
