# Two Google service accounts, each with only what it uses:
#
# - zenith-nodes runs the Autopilot nodes: logs, metrics, image pulls.
# - zenith-workload is what every Zenith pod acts as, through Workload
#   Identity from the Kubernetes service account zenith: it logs in to Cloud
#   SQL (through the proxy) and, for the External Secrets Operator, reads the
#   Zenith secrets.

resource "google_service_account" "nodes" {
  account_id   = "zenith-nodes"
  display_name = "Zenith GKE nodes"

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "nodes" {
  for_each = toset(["roles/container.defaultNodeServiceAccount"])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_artifact_registry_repository_iam_member" "nodes_pull" {
  location   = google_artifact_registry_repository.zenith.location
  repository = google_artifact_registry_repository.zenith.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_service_account" "workload" {
  account_id   = "zenith-workload"
  display_name = "Zenith services (Workload Identity)"

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "workload" {
  for_each = toset([
    "roles/cloudsql.client",
    "roles/cloudsql.instanceUser",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.workload.email}"
}

# Lets the Kubernetes service account zenith act as zenith-workload. The
# identity pool PROJECT.svc.id.goog exists once the cluster does.
resource "google_service_account_iam_member" "workload_identity" {
  service_account_id = google_service_account.workload.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.namespace}/${local.workload_ksa}]"

  depends_on = [google_container_cluster.zenith]
}
