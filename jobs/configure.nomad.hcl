# The batch job that applies a database's configuration: roles, their
# memberships, schemas and schema privileges. Its ID is the instance name
# plus `-configure`; each change registers a new version, which runs once.
#
# What it applies is data, never SQL text: dbaas gives the lists below as
# typed values, `jsonencode` turns them into one JSON document passed to
# psql as a variable (psql quotes it as a literal, `:'spec'`), and the fixed
# script in the template reads it and builds every statement with
# `format('%I')`, so a name is always an identifier. Every statement is
# idempotent (create if absent, grant), and the whole runs in one
# transaction: all of it applies or none.
#
# The superuser password comes from this job's Nomad variable
# (nomad/jobs/<job id>, key `superuser_password`), readable by its task
# through its workload identity.
#
#   nomad job plan -var job_id=dbaas-demo-1a2b3c4d-configure \
#     -var instance=dbaas-demo-1a2b3c4d -var pair=pair-1 \
#     -var host=203.0.113.10 -var port=5432 -var database=demo \
#     -var 'roles=[{name="app",login=true,member_of=[]}]' \
#     -var 'schemas=[{name="app",owner="app"}]' \
#     -var 'grants=[{role="app",schema="app",privileges=["USAGE"]}]' \
#     jobs/configure.nomad.hcl

variable "job_id" {
  type        = string
  description = "The job's ID: the database's instance name plus -configure."
}

variable "instance" {
  type        = string
  description = "The database's instance name (dbaas-NAME-ID8), the engine job's ID."
}

variable "pair" {
  type        = string
  description = "The host pair holding the database's volume (node meta dbaas_pair)."
}

variable "host" {
  type        = string
  description = "The engine's endpoint address."
}

variable "port" {
  type        = number
  description = "The engine's endpoint port."
}

variable "database" {
  type        = string
  description = "The database the schemas and grants are applied in."
}

variable "roles" {
  type        = list(object({ name = string, login = bool, member_of = list(string) }))
  description = "Roles to create if absent, and the roles each is granted."
}

variable "schemas" {
  type        = list(object({ name = string, owner = string }))
  description = "Schemas to create if absent, with their owner."
}

variable "grants" {
  type        = list(object({ role = string, schema = string, privileges = list(string) }))
  description = "Schema privileges (USAGE, CREATE) to grant."
}

variable "client_image" {
  type        = string
  default     = "postgres:16"
  description = "The image providing psql."
}

variable "superuser" {
  type    = string
  default = "postgres"
}

variable "node_pool" {
  type    = string
  default = "default"
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

job "dbaas-configure" {
  id          = var.job_id
  name        = var.job_id
  type        = "batch"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  meta {
    dbaas_instance = var.instance
  }

  constraint {
    attribute = "$${meta.dbaas_pair}"
    operator  = "="
    value     = var.pair
  }

  group "configure" {
    count = 1

    # Idempotent statements in one transaction: a retry after a transient
    # failure (the engine restarting) is safe, and bounded.
    restart {
      attempts = 2
      interval = "5m"
      delay    = "15s"
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    ephemeral_disk {
      size = 300
    }

    task "psql" {
      driver = "docker"

      config {
        image   = var.client_image
        command = "psql"
        args = [
          "--no-psqlrc",
          "--set", "ON_ERROR_STOP=1",
          "--set", "spec=${jsonencode({ roles = var.roles, schemas = var.schemas, grants = var.grants })}",
          "--file", "/local/configure.sql",
        ]
      }

      env {
        PGHOST            = var.host
        PGPORT            = var.port
        PGUSER            = var.superuser
        PGDATABASE        = var.database
        PGAPPNAME         = "dbaas-configure"
        PGCONNECT_TIMEOUT = "10"
      }

      template {
        destination = "secrets/pg.env"
        perms       = "0400"
        change_mode = "noop"
        env         = true
        data        = <<-EOT
          {{- with nomadVar (print "nomad/jobs/" (env "NOMAD_JOB_ID")) }}
          PGPASSWORD={{ .superuser_password }}
          {{- end }}
        EOT
      }

      template {
        destination = "local/configure.sql"
        change_mode = "noop"
        data        = <<-EOT
          BEGIN;
          SELECT format('CREATE ROLE %I %s', r->>'name',
                        CASE WHEN (r->>'login')::boolean THEN 'LOGIN' ELSE 'NOLOGIN' END)
            FROM json_array_elements(:'spec'::json -> 'roles') AS r
           WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r->>'name')
          \gexec
          SELECT format('GRANT %I TO %I', m, r->>'name')
            FROM json_array_elements(:'spec'::json -> 'roles') AS r,
                 json_array_elements_text(r->'member_of') AS m
          \gexec
          SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', s->>'name', s->>'owner')
            FROM json_array_elements(:'spec'::json -> 'schemas') AS s
          \gexec
          SELECT format('GRANT %s ON SCHEMA %I TO %I', p, g->>'schema', g->>'role')
            FROM json_array_elements(:'spec'::json -> 'grants') AS g,
                 json_array_elements_text(g->'privileges') AS p
           WHERE p IN ('USAGE', 'CREATE')
          \gexec
          COMMIT;
        EOT
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
