# Zenith on GCP: a GKE Autopilot cluster for the three services and NATS,
# Cloud SQL for PostgreSQL on a private IP, an Artifact Registry repository
# for the images, Secret Manager for the database URL and the API keys, and
# the service accounts that tie them together through Workload Identity.
# See README.md.

locals {
  # The Kubernetes service account every Zenith pod runs as (deploy/base).
  workload_ksa = "zenith"

  apis = [
    "artifactregistry.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "sts.googleapis.com",
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  service            = each.value
  disable_on_destroy = false
}
