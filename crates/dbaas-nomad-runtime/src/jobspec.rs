//! The engine's job specification: an HCL template filled with typed
//! values and converted to Nomad's JSON job form.
//!
//! The template declares HCL2 `variable` blocks; [`JobTemplate::render`]
//! evaluates the `job` block with hcl-rs in a context where `var` is an
//! object of typed [`hcl::Value`]s. A value is only ever data: evaluation
//! is one pass, so a string holding `${...}`, quotes or newlines stays one
//! string leaf and cannot add, remove or reshape a block or attribute.
//! The evaluated blocks are then mapped to the JSON job form by a small
//! schema (below) covering the jobspec blocks the template uses; anything
//! else is refused with its name, never silently dropped.

use std::collections::BTreeMap;

use dbaas_nomad::Job;
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Block, Body, Expression, Structure, Value};
use serde_json::{Map, Value as Json};

/// The built-in template, `jobs/engine.nomad.hcl` of the repository.
pub const ENGINE_TEMPLATE: &str = include_str!("../../../jobs/engine.nomad.hcl");

/// The built-in admin SQL job, `jobs/admin-sql.nomad.hcl`.
pub const ADMIN_SQL_TEMPLATE: &str = include_str!("../../../jobs/admin-sql.nomad.hcl");

/// The built-in configuration job, `jobs/configure.nomad.hcl`.
pub const CONFIGURE_TEMPLATE: &str = include_str!("../../../jobs/configure.nomad.hcl");

/// A template that cannot be parsed, filled or converted; the message names
/// the template, the block and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

type Result<T> = std::result::Result<T, TemplateError>;

/// A declared input of a template.
#[derive(Debug, Clone, PartialEq)]
struct Variable {
    /// `string`, `number`, `bool` or another type expression (unchecked).
    type_name: Option<String>,
    default: Option<Value>,
}

/// A parsed job template: its variables and its one `job` block.
#[derive(Debug, Clone)]
pub struct JobTemplate {
    name: String,
    variables: BTreeMap<String, Variable>,
    job: Block,
}

impl JobTemplate {
    /// The built-in engine template.
    pub fn engine() -> Result<Self> {
        Self::parse("jobs/engine.nomad.hcl", ENGINE_TEMPLATE)
    }

    /// The built-in admin SQL template (a parameterized batch job).
    pub fn admin_sql() -> Result<Self> {
        Self::parse("jobs/admin-sql.nomad.hcl", ADMIN_SQL_TEMPLATE)
    }

    /// The built-in configuration template (a batch job).
    pub fn configure() -> Result<Self> {
        Self::parse("jobs/configure.nomad.hcl", CONFIGURE_TEMPLATE)
    }

    /// Parses `text`; `name` is how errors refer to it (a file name).
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let err = |msg: String| TemplateError(format!("job template {name}: {msg}"));
        let body: Body = hcl::parse(text).map_err(|e| err(format!("not valid HCL: {e}")))?;
        let mut variables = BTreeMap::new();
        let mut job = None;
        for structure in body.into_inner() {
            match structure {
                Structure::Block(block) if block.identifier() == "variable" => {
                    let var_name = single_label(&block)
                        .ok_or_else(|| err("a variable block needs exactly one label".into()))?;
                    let mut variable = Variable {
                        type_name: None,
                        default: None,
                    };
                    for attr in block.body.attributes() {
                        match attr.key() {
                            "type" => variable.type_name = Some(attr.expr.to_string()),
                            "default" => {
                                // Defaults are literals: evaluated with no
                                // variables in scope.
                                let value = attr.expr.evaluate(&Context::new()).map_err(|e| {
                                    err(format!("the default of variable {var_name:?}: {e}"))
                                })?;
                                variable.default = Some(value);
                            }
                            _ => {}
                        }
                    }
                    variables.insert(var_name, variable);
                }
                Structure::Block(block) if block.identifier() == "job" => {
                    if job.replace(block).is_some() {
                        return Err(err("it holds more than one job block".into()));
                    }
                }
                Structure::Block(block) => {
                    return Err(err(format!(
                        "top-level block {:?} is not supported (only variable and job)",
                        block.identifier()
                    )))
                }
                Structure::Attribute(attr) => {
                    return Err(err(format!(
                        "top-level attribute {:?} is not supported (only variable and job blocks)",
                        attr.key()
                    )))
                }
            }
        }
        let job = job.ok_or_else(|| err("it holds no job block".into()))?;
        Ok(Self {
            name: name.to_string(),
            variables,
            job,
        })
    }

    /// Names of the declared variables.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.variables.keys().map(String::as_str)
    }

    /// Fills the template with `values` (one per declared variable; those
    /// with a default may be left out) and converts it to the JSON job form.
    pub fn render(&self, values: &BTreeMap<String, Value>) -> Result<Job> {
        let ctx = self.context(values)?;
        let err = |msg: String| TemplateError(format!("job template {}: {msg}", self.name));
        let mut job = convert(&self.job, &JOB, &ctx, "job").map_err(err)?;
        // Nomad's own rules: the label is the ID unless `id` is set, and the
        // name defaults to the ID.
        if !job.contains_key("ID") {
            if let Some(label) = single_label(&self.job) {
                job.insert("ID".into(), Json::String(label));
            }
        }
        if !job.contains_key("Name") {
            if let Some(id) = job.get("ID").cloned() {
                job.insert("Name".into(), id);
            }
        }
        serde_json::from_value(Json::Object(job))
            .map_err(|e| err(format!("the converted job is not a Nomad job: {e}")))
    }

    /// Fills the template with `values` like [`JobTemplate::render`] and
    /// prints the filled `job` block as HCL: what an operator would submit
    /// with `nomad job run`. Every expression is evaluated (strings holding
    /// `${` come out escaped, `$${`), so the text parses back to the same
    /// job.
    pub fn render_hcl(&self, values: &BTreeMap<String, Value>) -> Result<String> {
        let ctx = self.context(values)?;
        let err = |msg: String| TemplateError(format!("job template {}: {msg}", self.name));
        // Converting first refuses what the converter does not know, as
        // `render` would.
        convert(&self.job, &JOB, &ctx, "job").map_err(err)?;
        let filled = fill(&self.job, &ctx).map_err(err)?;
        let body = Body::builder().add_block(filled).build();
        hcl::format::to_string(&body).map_err(|e| err(format!("cannot print the job as HCL: {e}")))
    }

    /// The evaluation context: `var` bound to the values (defaults for the
    /// rest), and the functions the templates may call.
    fn context(&self, values: &BTreeMap<String, Value>) -> Result<Context<'static>> {
        let err = |msg: String| TemplateError(format!("job template {}: {msg}", self.name));
        let mut vars = hcl::Map::new();
        for (key, value) in values {
            let declared = self.variables.get(key).ok_or_else(|| {
                err(format!(
                    "dbaas sets variable {key:?}, which the template does not declare; add `variable {key:?} {{}}`"
                ))
            })?;
            check_type(key, declared, value).map_err(err)?;
            vars.insert(key.clone(), value.clone());
        }
        for (key, declared) in &self.variables {
            if !vars.contains_key(key) {
                let default = declared.default.clone().ok_or_else(|| {
                    err(format!(
                        "variable {key:?} has no value: dbaas does not set it; give it a default"
                    ))
                })?;
                vars.insert(key.clone(), default);
            }
        }
        let mut ctx = Context::new();
        ctx.declare_var("var", Value::Object(vars));
        // Nomad's own `jsonencode`, so that structured values reach a task
        // as one JSON string, encoded rather than assembled.
        ctx.declare_func(
            "jsonencode",
            FuncDef::builder().param(ParamType::Any).build(jsonencode),
        );
        Ok(ctx)
    }
}

/// The block with every attribute evaluated to a plain value: what the
/// printer writes is data only (it escapes `${` and `%{` in strings).
fn fill(block: &Block, ctx: &Context) -> std::result::Result<Block, String> {
    let mut body = Body::builder();
    for structure in block.body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let value = eval(&attr.expr, ctx, attr.key())?;
                body = body.add_attribute((attr.key(), printable(value)));
            }
            Structure::Block(nested) => body = body.add_block(fill(nested, ctx)?),
        }
    }
    Ok(Block {
        identifier: block.identifier.clone(),
        labels: block.labels.clone(),
        body: body.build(),
    })
}

/// A value as an expression the printer writes verbatim, with strings
/// escaped here: hcl-rs's own escaping misses a `${` after a `$`
/// (`"$${"` twice in one string), which would turn data into an
/// interpolation when read back.
fn printable(value: Value) -> Expression {
    match value {
        Value::String(s) => Expression::TemplateExpr(Box::new(hcl::TemplateExpr::QuotedString(
            escape_hcl_string(&s),
        ))),
        Value::Array(items) => Expression::Array(items.into_iter().map(printable).collect()),
        Value::Object(map) => Expression::Object(
            map.into_iter()
                .map(|(k, v)| (hcl::ObjectKey::from(k), printable(v)))
                .collect(),
        ),
        other => Expression::from(other),
    }
}

/// The body of an HCL quoted string holding exactly `s`: quotes,
/// backslashes and control characters escaped, and `${` / `%{` doubled
/// so they stay literal.
fn escape_hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn jsonencode(args: FuncArgs) -> std::result::Result<Value, String> {
    let value = args.first().ok_or("jsonencode takes one argument")?;
    serde_json::to_string(value)
        .map(Value::String)
        .map_err(|e| format!("jsonencode: {e}"))
}

fn single_label(block: &Block) -> Option<String> {
    match block.labels() {
        [label] => Some(label.as_str().to_string()),
        _ => None,
    }
}

fn check_type(key: &str, declared: &Variable, value: &Value) -> std::result::Result<(), String> {
    let ok = match declared.type_name.as_deref() {
        Some("string") => value.is_string(),
        Some("number") => value.is_number(),
        Some("bool") => value.is_boolean(),
        Some(t) if t.starts_with("list(") => value.is_array(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "variable {key:?} is declared {} but dbaas gives it {value}",
            declared.type_name.as_deref().unwrap_or("?")
        ))
    }
}

/// How an HCL attribute's value becomes a JSON value.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    /// A Go duration string (`"10s"`) → nanoseconds, as the JSON form wants.
    Duration,
    StrList,
    /// A string, or a number or bool written as text (env and meta values,
    /// as Nomad's own parser converts them).
    Text,
}

/// How a nested block becomes part of its parent's JSON object.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// At most one block → an object under the key.
    Object(&'static str, &'static Schema),
    /// Repeated blocks → a list under the key.
    List(&'static str, &'static Schema),
    /// Labelled blocks → a map by label under the key (group volumes).
    ByLabel(&'static str, &'static Schema),
    /// A block of free-form string attributes (`meta`, `env`).
    StrMap(&'static str),
    /// A driver's `config`: passed through in the driver's own key names,
    /// nested blocks as lists of objects (what Nomad's parser produces).
    Raw(&'static str),
    /// `port "label" { static = N }`: a reserved port when `static` is set,
    /// a dynamic one otherwise.
    Ports,
}

/// The part of Nomad's jobspec a block may hold.
#[derive(Debug)]
struct Schema {
    /// The JSON key the block's label goes to, for labelled blocks.
    label: Option<&'static str>,
    attrs: &'static [(&'static str, &'static str, Kind)],
    blocks: &'static [(&'static str, Rule)],
}

use Kind::*;

static CONSTRAINT: Schema = Schema {
    label: None,
    attrs: &[
        ("attribute", "LTarget", Str),
        ("value", "RTarget", Str),
        ("operator", "Operand", Str),
    ],
    blocks: &[],
};

static CHECK: Schema = Schema {
    label: None,
    attrs: &[
        ("name", "Name", Str),
        ("type", "Type", Str),
        ("path", "Path", Str),
        ("port", "PortLabel", Str),
        ("interval", "Interval", Duration),
        ("timeout", "Timeout", Duration),
    ],
    blocks: &[],
};

static SERVICE: Schema = Schema {
    label: None,
    attrs: &[
        ("name", "Name", Str),
        ("port", "PortLabel", Str),
        ("provider", "Provider", Str),
        ("tags", "Tags", StrList),
        ("task", "TaskName", Str),
    ],
    blocks: &[
        ("check", Rule::List("Checks", &CHECK)),
        ("meta", Rule::StrMap("Meta")),
    ],
};

static NETWORK: Schema = Schema {
    label: None,
    attrs: &[("mode", "Mode", Str), ("hostname", "Hostname", Str)],
    blocks: &[("port", Rule::Ports)],
};

static PORT: Schema = Schema {
    label: Some("Label"),
    attrs: &[
        ("static", "Value", Int),
        ("to", "To", Int),
        ("host_network", "HostNetwork", Str),
    ],
    blocks: &[],
};

static UPDATE: Schema = Schema {
    label: None,
    attrs: &[
        ("max_parallel", "MaxParallel", Int),
        ("canary", "Canary", Int),
        ("health_check", "HealthCheck", Str),
        ("min_healthy_time", "MinHealthyTime", Duration),
        ("healthy_deadline", "HealthyDeadline", Duration),
        ("progress_deadline", "ProgressDeadline", Duration),
        ("auto_revert", "AutoRevert", Bool),
        ("auto_promote", "AutoPromote", Bool),
        ("stagger", "Stagger", Duration),
    ],
    blocks: &[],
};

static RESTART: Schema = Schema {
    label: None,
    attrs: &[
        ("attempts", "Attempts", Int),
        ("interval", "Interval", Duration),
        ("delay", "Delay", Duration),
        ("mode", "Mode", Str),
    ],
    blocks: &[],
};

static RESCHEDULE: Schema = Schema {
    label: None,
    attrs: &[
        ("attempts", "Attempts", Int),
        ("interval", "Interval", Duration),
        ("delay", "Delay", Duration),
        ("delay_function", "DelayFunction", Str),
        ("max_delay", "MaxDelay", Duration),
        ("unlimited", "Unlimited", Bool),
    ],
    blocks: &[],
};

static DISCONNECT: Schema = Schema {
    label: None,
    attrs: &[
        ("lost_after", "LostAfter", Duration),
        ("stop_on_client_after", "StopOnClientAfter", Duration),
        ("replace", "Replace", Bool),
        ("reconcile", "Reconcile", Str),
    ],
    blocks: &[],
};

static VOLUME: Schema = Schema {
    label: Some("Name"),
    attrs: &[
        ("type", "Type", Str),
        ("source", "Source", Str),
        ("read_only", "ReadOnly", Bool),
        ("access_mode", "AccessMode", Str),
        ("attachment_mode", "AttachmentMode", Str),
    ],
    blocks: &[],
};

static VOLUME_MOUNT: Schema = Schema {
    label: None,
    attrs: &[
        ("volume", "Volume", Str),
        ("destination", "Destination", Str),
        ("read_only", "ReadOnly", Bool),
    ],
    blocks: &[],
};

static RESOURCES: Schema = Schema {
    label: None,
    attrs: &[
        ("cpu", "CPU", Int),
        ("cores", "Cores", Int),
        ("memory", "MemoryMB", Int),
        ("memory_max", "MemoryMaxMB", Int),
    ],
    blocks: &[],
};

static TEMPLATE: Schema = Schema {
    label: None,
    attrs: &[
        ("data", "EmbeddedTmpl", Str),
        ("source", "SourcePath", Str),
        ("destination", "DestPath", Str),
        ("change_mode", "ChangeMode", Str),
        ("change_signal", "ChangeSignal", Str),
        ("perms", "Perms", Str),
        ("env", "Envvars", Bool),
        ("splay", "Splay", Duration),
    ],
    blocks: &[],
};

static LIFECYCLE: Schema = Schema {
    label: None,
    attrs: &[("hook", "Hook", Str), ("sidecar", "Sidecar", Bool)],
    blocks: &[],
};

static EPHEMERAL_DISK: Schema = Schema {
    label: None,
    attrs: &[
        ("size", "SizeMB", Int),
        ("sticky", "Sticky", Bool),
        ("migrate", "Migrate", Bool),
    ],
    blocks: &[],
};

static PARAMETERIZED: Schema = Schema {
    label: None,
    attrs: &[
        ("payload", "Payload", Str),
        ("meta_required", "MetaRequired", StrList),
        ("meta_optional", "MetaOptional", StrList),
    ],
    blocks: &[],
};

static MIGRATE: Schema = Schema {
    label: None,
    attrs: &[
        ("max_parallel", "MaxParallel", Int),
        ("health_check", "HealthCheck", Str),
        ("min_healthy_time", "MinHealthyTime", Duration),
        ("healthy_deadline", "HealthyDeadline", Duration),
    ],
    blocks: &[],
};

static TASK: Schema = Schema {
    label: Some("Name"),
    attrs: &[
        ("driver", "Driver", Str),
        ("user", "User", Str),
        ("kill_signal", "KillSignal", Str),
        ("kill_timeout", "KillTimeout", Duration),
        ("leader", "Leader", Bool),
    ],
    blocks: &[
        ("config", Rule::Raw("Config")),
        ("env", Rule::StrMap("Env")),
        ("meta", Rule::StrMap("Meta")),
        ("resources", Rule::Object("Resources", &RESOURCES)),
        ("template", Rule::List("Templates", &TEMPLATE)),
        ("service", Rule::List("Services", &SERVICE)),
        ("volume_mount", Rule::List("VolumeMounts", &VOLUME_MOUNT)),
        ("restart", Rule::Object("RestartPolicy", &RESTART)),
        ("constraint", Rule::List("Constraints", &CONSTRAINT)),
        ("lifecycle", Rule::Object("Lifecycle", &LIFECYCLE)),
    ],
};

static GROUP: Schema = Schema {
    label: Some("Name"),
    attrs: &[("count", "Count", Int)],
    blocks: &[
        ("constraint", Rule::List("Constraints", &CONSTRAINT)),
        ("network", Rule::List("Networks", &NETWORK)),
        ("service", Rule::List("Services", &SERVICE)),
        ("update", Rule::Object("Update", &UPDATE)),
        ("restart", Rule::Object("RestartPolicy", &RESTART)),
        ("reschedule", Rule::Object("ReschedulePolicy", &RESCHEDULE)),
        ("disconnect", Rule::Object("Disconnect", &DISCONNECT)),
        ("volume", Rule::ByLabel("Volumes", &VOLUME)),
        ("task", Rule::List("Tasks", &TASK)),
        ("meta", Rule::StrMap("Meta")),
        (
            "ephemeral_disk",
            Rule::Object("EphemeralDisk", &EPHEMERAL_DISK),
        ),
        ("migrate", Rule::Object("Migrate", &MIGRATE)),
    ],
};

static JOB: Schema = Schema {
    label: None,
    attrs: &[
        ("id", "ID", Str),
        ("name", "Name", Str),
        ("type", "Type", Str),
        ("region", "Region", Str),
        ("namespace", "Namespace", Str),
        ("node_pool", "NodePool", Str),
        ("priority", "Priority", Int),
        ("datacenters", "Datacenters", StrList),
    ],
    blocks: &[
        ("constraint", Rule::List("Constraints", &CONSTRAINT)),
        ("update", Rule::Object("Update", &UPDATE)),
        ("group", Rule::List("TaskGroups", &GROUP)),
        ("meta", Rule::StrMap("Meta")),
        (
            "parameterized",
            Rule::Object("ParameterizedJob", &PARAMETERIZED),
        ),
        ("migrate", Rule::Object("Migrate", &MIGRATE)),
    ],
};

fn eval(expr: &Expression, ctx: &Context, at: &str) -> std::result::Result<Value, String> {
    expr.evaluate(ctx).map_err(|e| format!("{at}: {e}"))
}

/// Converts one block by `schema` into a JSON object.
fn convert(
    block: &Block,
    schema: &Schema,
    ctx: &Context,
    at: &str,
) -> std::result::Result<Map<String, Json>, String> {
    let mut out = Map::new();
    if let Some(key) = schema.label {
        let label = single_label(block)
            .ok_or_else(|| format!("{at} needs exactly one label (its name)"))?;
        out.insert(key.into(), Json::String(label));
    }
    for attr in block.body.attributes() {
        let here = format!("{at}.{}", attr.key());
        let (_, json_key, kind) = schema
            .attrs
            .iter()
            .find(|(name, _, _)| *name == attr.key())
            .ok_or_else(|| format!("{here} is not supported by dbaas's converter; remove it or extend dbaas-nomad-runtime"))?;
        let value = eval(&attr.expr, ctx, &here)?;
        out.insert((*json_key).into(), typed(&value, *kind, &here)?);
    }
    for nested in block.body.blocks() {
        let here = format!("{at}.{}", nested.identifier());
        let (_, rule) = schema
            .blocks
            .iter()
            .find(|(name, _)| *name == nested.identifier())
            .ok_or_else(|| format!("block {here} is not supported by dbaas's converter; remove it or extend dbaas-nomad-runtime"))?;
        match rule {
            Rule::Object(key, inner) => {
                if out.contains_key(*key) {
                    return Err(format!("{here} may appear only once"));
                }
                out.insert(
                    (*key).into(),
                    Json::Object(convert(nested, inner, ctx, &here)?),
                );
            }
            Rule::List(key, inner) => push(&mut out, key, convert(nested, inner, ctx, &here)?),
            Rule::ByLabel(key, inner) => {
                let item = convert(nested, inner, ctx, &here)?;
                let label = single_label(nested).unwrap_or_default();
                let map = out.entry(*key).or_insert_with(|| Json::Object(Map::new()));
                if let Json::Object(map) = map {
                    map.insert(label, Json::Object(item));
                }
            }
            Rule::StrMap(key) => {
                let mut map = Map::new();
                for attr in nested.body.attributes() {
                    let here = format!("{here}.{}", attr.key());
                    let value = eval(&attr.expr, ctx, &here)?;
                    map.insert(attr.key().into(), typed(&value, Text, &here)?);
                }
                if nested.body.blocks().next().is_some() {
                    return Err(format!("{here} holds only attributes"));
                }
                out.insert((*key).into(), Json::Object(map));
            }
            Rule::Raw(key) => {
                out.insert((*key).into(), Json::Object(raw(&nested.body, ctx, &here)?));
            }
            Rule::Ports => {
                let port = convert(nested, &PORT, ctx, &here)?;
                let key = if port.contains_key("Value") {
                    "ReservedPorts"
                } else {
                    "DynamicPorts"
                };
                push(&mut out, key, port);
            }
        }
    }
    Ok(out)
}

fn push(out: &mut Map<String, Json>, key: &str, item: Map<String, Json>) {
    let list = out.entry(key).or_insert_with(|| Json::Array(Vec::new()));
    if let Json::Array(list) = list {
        list.push(Json::Object(item));
    }
}

/// A driver's free-form configuration.
fn raw(body: &Body, ctx: &Context, at: &str) -> std::result::Result<Map<String, Json>, String> {
    let mut out = Map::new();
    for attr in body.attributes() {
        let here = format!("{at}.{}", attr.key());
        let value = eval(&attr.expr, ctx, &here)?;
        let json = serde_json::to_value(&value).map_err(|e| format!("{here}: {e}"))?;
        out.insert(attr.key().into(), json);
    }
    for nested in body.blocks() {
        let here = format!("{at}.{}", nested.identifier());
        if !nested.labels().is_empty() {
            return Err(format!(
                "{here}: labelled blocks are not supported in a driver config"
            ));
        }
        push(
            &mut out,
            nested.identifier(),
            raw(&nested.body, ctx, &here)?,
        );
    }
    Ok(out)
}

fn typed(value: &Value, kind: Kind, at: &str) -> std::result::Result<Json, String> {
    let wrong = |want: &str| format!("{at} must be {want}, not {value}");
    match kind {
        Str => value
            .as_str()
            .map(|s| Json::String(s.to_string()))
            .ok_or_else(|| wrong("a string")),
        Int => value
            .as_number()
            .and_then(|n| n.as_i64())
            .map(Json::from)
            .ok_or_else(|| wrong("a whole number")),
        Bool => value
            .as_bool()
            .map(Json::Bool)
            .ok_or_else(|| wrong("true or false")),
        Duration => {
            let text = value
                .as_str()
                .ok_or_else(|| wrong("a duration such as \"10s\""))?;
            dbaas_nomad::parse_duration_nanos(text)
                .map(Json::from)
                .ok_or_else(|| wrong("a duration such as \"10s\""))
        }
        Text => match value {
            Value::String(s) => Ok(Json::String(s.clone())),
            Value::Number(n) => Ok(Json::String(n.to_string())),
            Value::Bool(b) => Ok(Json::String(b.to_string())),
            _ => Err(wrong("a string")),
        },
        StrList => {
            let items = value.as_array().ok_or_else(|| wrong("a list of strings"))?;
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(|s| Json::String(s.to_string()))
                        .ok_or_else(|| wrong("a list of strings"))
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Json::Array)
        }
    }
}

/// The values dbaas gives the engine template, one per variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineJobValues {
    /// The job's ID (the instance name).
    pub job_id: String,
    /// Container image, e.g. `postgres:16`.
    pub image: String,
    /// The host pair: node meta `dbaas_pair` of the Nomad client there.
    pub pair: String,
    /// The volume's mount point on the pair's active host.
    pub volume_path: String,
    /// The endpoint's port.
    pub port: u16,
    /// The Consul service name.
    pub service_name: String,
    /// CPU in MHz.
    pub cpu_mhz: u32,
    /// Memory in MiB.
    pub memory_mb: u32,
    /// The engine's superuser.
    pub superuser: String,
}

impl EngineJobValues {
    /// The template variables, as typed HCL values.
    pub fn to_vars(&self) -> BTreeMap<String, Value> {
        let s = |v: &str| Value::String(v.to_string());
        BTreeMap::from([
            ("job_id".to_string(), s(&self.job_id)),
            ("image".to_string(), s(&self.image)),
            ("pair".to_string(), s(&self.pair)),
            ("volume_path".to_string(), s(&self.volume_path)),
            ("port".to_string(), Value::from(self.port)),
            ("service_name".to_string(), s(&self.service_name)),
            ("cpu".to_string(), Value::from(self.cpu_mhz)),
            ("memory".to_string(), Value::from(self.memory_mb)),
            ("superuser".to_string(), s(&self.superuser)),
        ])
    }
}

/// The values dbaas gives the admin SQL template (`jobs/admin-sql.nomad.hcl`).
/// What a dispatch runs (database, SQL object, dbaas job id) is not here:
/// it is the dispatch's meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSqlJobValues {
    /// The parameterized job's ID (`<instance>-admin-sql`).
    pub job_id: String,
    /// The database's instance name, the engine job's ID.
    pub instance: String,
    /// The host pair holding the volume: the job runs beside its engine.
    pub pair: String,
    /// The engine's endpoint address.
    pub host: String,
    /// The engine's endpoint port.
    pub port: u16,
    /// Base URL of the object-store container holding the SQL objects.
    pub object_store_url: String,
    /// The image providing psql.
    pub client_image: String,
    /// The image providing curl.
    pub fetch_image: String,
    /// The engine's superuser.
    pub superuser: String,
}

impl AdminSqlJobValues {
    /// The variables dbaas sets, which a template must declare.
    pub(crate) fn names() -> Vec<String> {
        let example = Self {
            job_id: String::new(),
            instance: String::new(),
            pair: String::new(),
            host: String::new(),
            port: 0,
            object_store_url: String::new(),
            client_image: String::new(),
            fetch_image: String::new(),
            superuser: String::new(),
        };
        example.to_vars().into_keys().collect()
    }

    /// The template variables, as typed HCL values.
    pub fn to_vars(&self) -> BTreeMap<String, Value> {
        let s = |v: &str| Value::String(v.to_string());
        BTreeMap::from([
            ("job_id".to_string(), s(&self.job_id)),
            ("instance".to_string(), s(&self.instance)),
            ("pair".to_string(), s(&self.pair)),
            ("host".to_string(), s(&self.host)),
            ("port".to_string(), Value::from(self.port)),
            ("object_store_url".to_string(), s(&self.object_store_url)),
            ("client_image".to_string(), s(&self.client_image)),
            ("fetch_image".to_string(), s(&self.fetch_image)),
            ("superuser".to_string(), s(&self.superuser)),
        ])
    }
}

/// A role the configuration job creates if absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// The role's name.
    pub name: String,
    /// Whether it may log in.
    pub login: bool,
    /// Roles it is granted (made a member of).
    pub member_of: Vec<String>,
}

/// A schema the configuration job creates if absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaSpec {
    /// The schema's name.
    pub name: String,
    /// Its owner (a role).
    pub owner: String,
}

/// A privilege on a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SchemaPrivilege {
    /// `USAGE`: look up objects in the schema.
    Usage,
    /// `CREATE`: create objects in the schema.
    Create,
}

impl SchemaPrivilege {
    /// The SQL keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaPrivilege::Usage => "USAGE",
            SchemaPrivilege::Create => "CREATE",
        }
    }
}

/// Schema privileges granted to a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSpec {
    /// The grantee.
    pub role: String,
    /// The schema.
    pub schema: String,
    /// What is granted.
    pub privileges: Vec<SchemaPrivilege>,
}

/// The values dbaas gives the configuration template
/// (`jobs/configure.nomad.hcl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigureJobValues {
    /// The job's ID (`<instance>-configure`).
    pub job_id: String,
    /// The database's instance name, the engine job's ID.
    pub instance: String,
    /// The host pair holding the volume.
    pub pair: String,
    /// The engine's endpoint address.
    pub host: String,
    /// The engine's endpoint port.
    pub port: u16,
    /// The database the schemas and grants are applied in.
    pub database: String,
    /// Roles to create.
    pub roles: Vec<RoleSpec>,
    /// Schemas to create.
    pub schemas: Vec<SchemaSpec>,
    /// Schema privileges to grant.
    pub grants: Vec<GrantSpec>,
    /// The image providing psql.
    pub client_image: String,
    /// The engine's superuser.
    pub superuser: String,
}

impl ConfigureJobValues {
    /// The variables dbaas sets, which a template must declare.
    pub(crate) fn names() -> Vec<String> {
        let example = Self {
            job_id: String::new(),
            instance: String::new(),
            pair: String::new(),
            host: String::new(),
            port: 0,
            database: String::new(),
            roles: Vec::new(),
            schemas: Vec::new(),
            grants: Vec::new(),
            client_image: String::new(),
            superuser: String::new(),
        };
        example.to_vars().into_keys().collect()
    }

    /// The template variables, as typed HCL values (lists of objects).
    pub fn to_vars(&self) -> BTreeMap<String, Value> {
        let s = |v: &str| Value::String(v.to_string());
        let strings = |items: &mut dyn Iterator<Item = &str>| {
            Value::Array(items.map(|v| Value::String(v.to_string())).collect())
        };
        let roles = self
            .roles
            .iter()
            .map(|r| {
                let mut o = hcl::Map::new();
                o.insert("name".into(), s(&r.name));
                o.insert("login".into(), Value::Bool(r.login));
                o.insert(
                    "member_of".into(),
                    strings(&mut r.member_of.iter().map(String::as_str)),
                );
                Value::Object(o)
            })
            .collect();
        let schemas = self
            .schemas
            .iter()
            .map(|sc| {
                let mut o = hcl::Map::new();
                o.insert("name".into(), s(&sc.name));
                o.insert("owner".into(), s(&sc.owner));
                Value::Object(o)
            })
            .collect();
        let grants = self
            .grants
            .iter()
            .map(|g| {
                let mut o = hcl::Map::new();
                o.insert("role".into(), s(&g.role));
                o.insert("schema".into(), s(&g.schema));
                o.insert(
                    "privileges".into(),
                    strings(&mut g.privileges.iter().map(|p| p.as_str())),
                );
                Value::Object(o)
            })
            .collect();
        BTreeMap::from([
            ("job_id".to_string(), s(&self.job_id)),
            ("instance".to_string(), s(&self.instance)),
            ("pair".to_string(), s(&self.pair)),
            ("host".to_string(), s(&self.host)),
            ("port".to_string(), Value::from(self.port)),
            ("database".to_string(), s(&self.database)),
            ("roles".to_string(), Value::Array(roles)),
            ("schemas".to_string(), Value::Array(schemas)),
            ("grants".to_string(), Value::Array(grants)),
            ("client_image".to_string(), s(&self.client_image)),
            ("superuser".to_string(), s(&self.superuser)),
        ])
    }
}
