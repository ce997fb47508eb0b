# The secrets the gcp overlay's ExternalSecrets read. Terraform creates the
# secrets; it writes a value only for the database URL, which holds no
# password (IAM authentication). API keys are added outside Terraform so
# that they never enter its state:
#
#   printf %s "$KEY" | gcloud secrets versions add zenith-shop-api-key --data-file=-
#
# The admin API's tokens (comma-separated) likewise; until the secret has a
# version the admin API stays off:
#
#   printf %s "$TOKEN" | gcloud secrets versions add zenith-admin-tokens --data-file=-

resource "google_secret_manager_secret" "database_url" {
  secret_id = "zenith-database-url"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "database_url" {
  secret      = google_secret_manager_secret.database_url.id
  secret_data = local.database_url
}

resource "google_secret_manager_secret" "api_key" {
  for_each = toset(var.api_key_secrets)

  secret_id = each.value

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret" "admin_tokens" {
  secret_id = "zenith-admin-tokens"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_iam_member" "workload" {
  for_each = merge(
    { (google_secret_manager_secret.database_url.secret_id) = google_secret_manager_secret.database_url.id },
    { (google_secret_manager_secret.admin_tokens.secret_id) = google_secret_manager_secret.admin_tokens.id },
    { for name, secret in google_secret_manager_secret.api_key : name => secret.id },
  )

  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.workload.email}"
}
