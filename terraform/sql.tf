# Cloud SQL for PostgreSQL, reachable only over the VPC. The services log in
# with IAM database authentication as the workload service account, through
# the Cloud SQL Auth Proxy sidecar (deploy/overlays/gcp): no database
# password exists anywhere.
#
# Zenith runs on CockroachDB too; README.md says what to change for it.

resource "google_sql_database_instance" "zenith" {
  name                = var.sql_instance_name
  region              = var.region
  database_version    = "POSTGRES_17"
  deletion_protection = var.deletion_protection

  settings {
    # Enterprise edition: PostgreSQL 16 and later default to Enterprise Plus,
    # which takes other tiers.
    edition           = "ENTERPRISE"
    tier              = var.sql_tier
    availability_type = var.sql_high_availability ? "REGIONAL" : "ZONAL"

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.zenith.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }
  }

  depends_on = [google_service_networking_connection.sql]
}

resource "google_sql_database" "zenith" {
  name     = "zenith"
  instance = google_sql_database_instance.zenith.name
}

# The database user of the workload service account: its email without
# ".gserviceaccount.com", as Cloud SQL names IAM service account users.
resource "google_sql_user" "workload" {
  name     = local.database_user
  instance = google_sql_database_instance.zenith.name
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}

locals {
  database_user = trimsuffix(google_service_account.workload.email, ".gserviceaccount.com")

  # What the services connect to: the proxy in their own pod. It holds no
  # secret, but lives in Secret Manager so that another database (with a
  # password) can replace it without touching the manifests.
  database_url = "postgres://${urlencode(local.database_user)}@127.0.0.1:5432/${google_sql_database.zenith.name}?sslmode=disable"
}
