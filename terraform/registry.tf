# One Docker repository for the four images (ingestor, rule-engine,
# dispatcher, migrate), pruned to the most recent versions.

resource "google_artifact_registry_repository" "zenith" {
  location      = var.region
  repository_id = "zenith"
  format        = "DOCKER"
  description   = "Zenith service images"

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 30
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}
