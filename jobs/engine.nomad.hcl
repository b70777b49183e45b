# The service job that runs one database's engine.
#
# dbaas fills the variables below with typed values (never by editing this
# text) and turns the result into Nomad's JSON job form itself; see the crate
# doc of dbaas-nomad-runtime. It is also a plain Nomad HCL2 job, so an
# operator can try an edit by hand:
#
#   nomad job plan -var job_id=dbaas-demo-1a2b3c4d -var image=postgres:16 \
#     -var pair=pair-1 -var volume_path=/srv/dbaas/dbaas-demo-1a2b3c4d \
#     -var port=5432 -var service_name=dbaas-demo-1a2b3c4d \
#     -var cpu=1000 -var memory=1024 jobs/engine.nomad.hcl
#
# Edits stay within the blocks and attributes used here (dbaas's converter
# refuses what it does not know, rather than dropping it). `$${...}` is HCL's
# escape for a literal `${...}`: those are interpolated by Nomad at run time
# (node meta), not by dbaas.

variable "job_id" {
  type        = string
  description = "The job's ID: the database's instance name (dbaas-NAME-ID8)."
}

variable "image" {
  type        = string
  description = "The engine's container image, chosen from the engine version (postgres:16)."
}

variable "pair" {
  type        = string
  description = "The host pair holding the database's volume: the value of the Nomad client's node meta dbaas_pair there."
}

variable "volume_path" {
  type        = string
  description = "Where Pacemaker mounts the database's volume on the pair's active host."
}

variable "port" {
  type        = number
  description = "The port clients reach the engine on (the endpoint's port)."
}

variable "service_name" {
  type        = string
  description = "The Consul service name the engine is registered under."
}

variable "cpu" {
  type        = number
  description = "CPU share in MHz, derived from the database's size."
}

variable "memory" {
  type        = number
  description = "Memory in MiB, derived from the database's size."
}

variable "superuser" {
  type        = string
  default     = "postgres"
  description = "The engine's superuser, which dbaas administers it as."
}

variable "node_pool" {
  type    = string
  default = "default"
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

job "dbaas-engine" {
  id          = var.job_id
  name        = var.job_id
  type        = "service"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  meta {
    dbaas_instance = var.job_id
  }

  # The volume is attached to one host pair only: run there and nowhere
  # else. The Nomad client of a pair carries `meta { dbaas_pair = "..." }`.
  constraint {
    attribute = "$${meta.dbaas_pair}"
    operator  = "="
    value     = var.pair
  }

  group "engine" {
    count = 1

    network {
      port "db" {
        static = var.port
        to     = 5432
      }
    }

    service {
      name     = var.service_name
      provider = "consul"
      port     = "db"
      tags     = ["dbaas", "postgresql"]

      check {
        name     = "tcp"
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    # One allocation, replaced stop-first (no canary): two engines must
    # never open the same data directory. A failed update is reported to
    # dbaas rather than reverted behind its back.
    update {
      max_parallel      = 1
      canary            = 0
      health_check      = "checks"
      min_healthy_time  = "10s"
      healthy_deadline  = "5m"
      progress_deadline = "10m"
      auto_revert       = false
    }

    # A crashed engine is restarted in place, on the host holding its
    # volume, for as long as it takes (mode "delay" never gives up).
    restart {
      attempts = 3
      interval = "5m"
      delay    = "15s"
      mode     = "delay"
    }

    # Never moved to another node: nowhere else has the volume.
    reschedule {
      attempts  = 0
      unlimited = false
    }

    # A network blip between the pair and the Nomad servers must not start
    # a second writer: the allocation keeps running, is not replaced, and
    # the original is kept when the node reconnects. (Nomad before 1.8:
    # `max_client_disconnect = "6h"` instead.) Failover between the two
    # hosts of a pair is Pacemaker's, with fencing.
    disconnect {
      lost_after = "6h"
      replace    = false
      reconcile  = "keep_original"
    }

    # The data lives on the volume; the allocation directory holds logs.
    ephemeral_disk {
      size = 300
    }

    task "engine" {
      driver = "docker"

      config {
        image = var.image
        ports = ["db"]

        # A bind mount of the Pacemaker-managed mount point (the docker
        # plugin needs `volumes { enabled = true }`): the mount point moves
        # with the pair's active host, which a static host_volume in the
        # client configuration could not follow per database.
        mount {
          type     = "bind"
          source   = var.volume_path
          target   = "/var/lib/postgresql/data"
          readonly = false
        }
      }

      env {
        # The same layout as the embedded runtime: the data directory is
        # `pgdata` at the volume's root.
        PGDATA                 = "/var/lib/postgresql/data/pgdata"
        POSTGRES_USER          = var.superuser
        POSTGRES_PASSWORD_FILE = "/secrets/superuser-password"
      }

      # The superuser password never appears in the job: it is read from the
      # job's own Nomad variable (nomad/jobs/<job id>, readable by this job's
      # tasks through their workload identity) into the secrets directory.
      template {
        destination = "secrets/superuser-password"
        perms       = "0400"
        change_mode = "noop"
        data        = <<-EOT
          {{- with nomadVar (print "nomad/jobs/" (env "NOMAD_JOB_ID")) -}}{{ .superuser_password }}{{- end -}}
        EOT
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }

      # SIGINT is PostgreSQL's fast shutdown; give it time to checkpoint.
      kill_signal  = "SIGINT"
      kill_timeout = "60s"
    }
  }
}
