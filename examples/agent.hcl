# dbaas agent configuration (HCL). Run with: dbaas agent --config examples/agent.hcl

data_dir = "/var/lib/dbaas"
listen   = "127.0.0.1:4680"

# Which driver serves each concern: "local" runs everything on this
# machine; production uses volumes = "cinder", addresses = "neutron"
# (with an openstack { } block), runtime = "nomad" (nomad { }) and
# ha = "pacemaker" (pacemaker { }); see README.md.
drivers {
  volumes   = "local"
  addresses = "local"
  runtime   = "local"
}

local {
  # Loopback addresses handed out as floating IPs, one per database.
  address_pool = "127.77.0.0/24"
  port         = 5432
  # PostgreSQL refuses to run as root: engines run as this user.
  run_as = "postgres"
}

engine "postgresql" {
  default_version = "15"
  version "15" {
    bin_dir = "/usr/lib/postgresql/15/bin"
  }
}

sql {
  max_output_bytes          = 1048576
  statement_timeout_seconds = 300
}

supervise_interval_seconds = 2

backup {
  store             = "local"                  # or "swift" / "s3" (blocks below)
  local_dir         = "/var/lib/dbaas/backups"
  segment_size_mb   = 64
  compression_level = 1
  parallelism       = 4
  # Continuous WAL archiving for point-in-time restores.
  wal_archiving           = true
  archive_timeout_seconds = 60

  # swift {
  #   auth      = "keystone"                  # or "tempauth" (auth_url, user, key)
  #   cloud     = "prod"                      # a cloud of clouds.yaml (+ secure.yaml),
  #                                           # found like `openstack --os-cloud` does;
  #                                           # clouds_file = "/etc/dbaas/clouds.yaml"
  #   # or, without clouds.yaml:
  #   # auth_url = "https://keystone.example.org:5000/v3"
  #   # username = "dbaas"
  #   # password = "secret"
  #   # project_name = "dbaas"
  #   container = "dbaas-backups"
  #   segment_size_mb = 100                   # Static Large Objects above this
  # }
  # s3 {
  #   endpoint   = "https://s3.example.org"
  #   bucket     = "dbaas-backups"
  #   access_key = "AKIA..."
  #   secret_key = "secret"
  # }
}

# Another cloud's backup store, read for disaster recovery:
#   dbaas db restore NEW --from NAME --store cloud-a
# store "cloud-a" {
#   type = "swift"
#   swift {
#     auth     = "tempauth"
#     auth_url = "http://swift.cloud-a.example.org:8080/auth/v1.0"
#     user     = "dbaas:reader"
#     key      = "secret"
#   }
# }

# The host pool: pairs of hosts databases are placed on (a pair with room
# in the least-used zone). `dbaas hosts list` shows it and its use.
# host_pair_stacks = ["pair-1", "pair-2"]  # read from these Heat stacks' outputs
#                                           # (heat/host-pair.yaml; needs openstack {})
# or one block per pair:
# host_pair "pair-1" {                 # the outputs of heat/host-pair.yaml
#   zone            = "az1"
#   nomad_nodes     = ["db-1a", "db-1b"]
#   pacemaker_nodes = ["db-1a", "db-1b"]  # default: the Nomad node names
#   vip_port_id     = "9f1c2d4e-0000-4000-8000-000000000001"
#   capacity {
#     databases  = 20
#     vcpus      = 32
#     memory_mib = 131072
#     volumes    = 40
#   }
# }

# Production drivers: Cinder volumes, Neutron floating IPs, a Pacemaker
# resource group per database on its host pair (reached over SSH).
# drivers {
#   volumes   = "cinder"
#   addresses = "neutron"
#   ha        = "pacemaker"
# }
# openstack {
#   cloud = "dbaas"                       # clouds.yaml (+ secure.yaml), or OS_*
#   volumes {
#     mount_root  = "/srv/dbaas"
#     volume_type = "ssd"
#   }
#   addresses {
#     external_network = "public"
#   }
# }
# pacemaker {
#   cloud = "dbaas"                       # what the hosts' agents and fencing use
#   ssh {
#     user        = "hacluster"
#     key         = "/etc/dbaas/ssh/id_ed25519"
#     known_hosts = "/etc/dbaas/ssh/known_hosts"
#   }
# }

# Production engines: Nomad jobs (the connection from NOMAD_ADDR,
# NOMAD_TOKEN, ... or these settings).
# drivers {
#   runtime = "nomad"
# }
# nomad {
#   address = "https://nomad.internal:4646"
# }

# Several agents of one cluster: the state in Consul, one leader (the
# connection from CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, ... or these).
# consul {
#   address             = "https://consul.internal:8501"
#   cluster             = "prod-1"
#   session_ttl_seconds = 15
#   lock_delay_seconds  = 15
# }
