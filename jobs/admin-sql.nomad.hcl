# The parameterized batch job that runs a user's admin SQL against one
# database's engine. One such job is registered per database (its ID is the
# instance name plus `-admin-sql`); each SQL job is one dispatch of it.
#
# The SQL itself is never in the job nor in the dispatch: Nomad caps a
# dispatch payload at 16 KiB, and dispatch meta is readable by anyone who
# may read the job. dbaas uploads the SQL to the object store and
# dispatches with the object's key in meta (`sql_object`); the `fetch`
# task downloads it into the allocation directory and `sql` runs it with
# psql, ON_ERROR_STOP set, so the first error ends the run with psql's
# exit code 3 and its message on stderr.
#
# A SQL job must never run twice by itself: no restart, no reschedule.
# dbaas dispatches with an idempotency token derived from its own job id
# and looks for an existing child before dispatching again.
#
# Credentials come from this job's Nomad variable (nomad/jobs/<job id>,
# readable by its tasks through their workload identity; a dispatched
# child reads its parent's): `superuser_password` and, if the object store
# needs one, `object_store_header` (a full HTTP header line such as
# `X-Auth-Token: ...`).
#
# Try an edit by hand with, for instance:
#
#   nomad job plan -var job_id=dbaas-demo-1a2b3c4d-admin-sql \
#     -var pair=pair-1 -var host=203.0.113.10 -var port=5432 \
#     -var object_store_url=https://swift.example/v1/AUTH_dbaas/dbaas-sql \
#     jobs/admin-sql.nomad.hcl
#
# `$${...}` is HCL's escape for a literal `${...}`, interpolated by Nomad
# at run time (node meta, dispatch meta, task directories), not by dbaas.

variable "job_id" {
  type        = string
  description = "The parameterized job's ID: the database's instance name plus -admin-sql."
}

variable "instance" {
  type        = string
  description = "The database's instance name (dbaas-NAME-ID8), the engine job's ID."
}

variable "pair" {
  type        = string
  description = "The host pair holding the database's volume (node meta dbaas_pair): the job runs beside its engine."
}

variable "host" {
  type        = string
  description = "The engine's endpoint address."
}

variable "port" {
  type        = number
  description = "The engine's endpoint port."
}

variable "object_store_url" {
  type        = string
  description = "Base URL of the object-store container holding the SQL objects; the dispatch's sql_object key is appended."
}

variable "client_image" {
  type        = string
  default     = "postgres:16"
  description = "The image providing psql."
}

variable "fetch_image" {
  type        = string
  default     = "curlimages/curl:8.11.1"
  description = "The image providing curl, which downloads the SQL object."
}

variable "superuser" {
  type        = string
  default     = "postgres"
  description = "The engine's superuser, which admin SQL runs as."
}

variable "node_pool" {
  type    = string
  default = "default"
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

job "dbaas-admin-sql" {
  id          = var.job_id
  name        = var.job_id
  type        = "batch"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  meta {
    dbaas_instance = var.instance
  }

  parameterized {
    payload       = "forbidden"
    meta_required = ["database", "job_id", "sql_object"]
  }

  # Beside the engine, on the host pair holding its volume.
  constraint {
    attribute = "$${meta.dbaas_pair}"
    operator  = "="
    value     = var.pair
  }

  group "sql" {
    count = 1

    # Never run again by Nomad: a failed SQL job is reported, and only a
    # user decides to run it again.
    restart {
      attempts = 0
      interval = "1m"
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

    task "fetch" {
      driver = "docker"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      config {
        image = var.fetch_image
        args = [
          "--fail", "--silent", "--show-error", "--location",
          "--retry", "3",
          "--header", "@/secrets/object-store.header",
          "--output", "/alloc/data/job.sql",
          "${var.object_store_url}/$${NOMAD_META_sql_object}",
        ]
      }

      template {
        destination = "secrets/object-store.header"
        perms       = "0400"
        change_mode = "noop"
        data        = <<-EOT
          {{- with nomadVar (print "nomad/jobs/" (env "NOMAD_JOB_PARENT_ID")) -}}{{ .object_store_header }}{{- end }}
        EOT
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }

    task "sql" {
      driver = "docker"

      config {
        image   = var.client_image
        command = "psql"
        args = [
          "--no-psqlrc",
          "--set", "ON_ERROR_STOP=1",
          "--file", "/alloc/data/job.sql",
        ]
      }

      env {
        PGHOST            = var.host
        PGPORT            = var.port
        PGUSER            = var.superuser
        PGDATABASE        = "$${NOMAD_META_database}"
        PGAPPNAME         = "dbaas-sql-$${NOMAD_META_job_id}"
        PGCONNECT_TIMEOUT = "10"
      }

      template {
        destination = "secrets/pg.env"
        perms       = "0400"
        change_mode = "noop"
        env         = true
        data        = <<-EOT
          {{- with nomadVar (print "nomad/jobs/" (env "NOMAD_JOB_PARENT_ID")) }}
          PGPASSWORD={{ .superuser_password }}
          {{- end }}
        EOT
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
