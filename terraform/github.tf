# GitHub Actions pushing images without a stored key: GitHub's OIDC tokens
# are exchanged for short-lived credentials of zenith-ci, which may only
# write to the image repository. GitHub's issuer is shared by every GitHub
# user, so the provider accepts tokens of var.github_repository only.
# Created only when var.github_repository is set.

locals {
  github = var.github_repository == "" ? toset([]) : toset([var.github_repository])
}

resource "google_iam_workload_identity_pool" "github" {
  for_each = local.github

  workload_identity_pool_id = "github"
  display_name              = "GitHub Actions"

  depends_on = [google_project_service.enabled]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  for_each = local.github

  workload_identity_pool_id          = google_iam_workload_identity_pool.github[each.key].workload_identity_pool_id
  workload_identity_pool_provider_id = "github-actions"
  display_name                       = "GitHub Actions OIDC"

  attribute_mapping = {
    "google.subject"             = "assertion.sub"
    "attribute.repository"       = "assertion.repository"
    "attribute.repository_owner" = "assertion.repository_owner"
    "attribute.ref"              = "assertion.ref"
  }
  attribute_condition = "assertion.repository == '${each.key}'"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

# docker login needs an OAuth access token, which only a service account can
# be issued; hence a service account rather than direct federation.
resource "google_service_account" "ci" {
  for_each = local.github

  account_id   = "zenith-ci"
  display_name = "Zenith image pushes from GitHub Actions"
}

resource "google_service_account_iam_member" "ci_federation" {
  for_each = local.github

  service_account_id = google_service_account.ci[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github[each.key].name}/attribute.repository/${each.key}"
}

resource "google_artifact_registry_repository_iam_member" "ci_push" {
  for_each = local.github

  location   = google_artifact_registry_repository.zenith.location
  repository = google_artifact_registry_repository.zenith.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.ci[each.key].email}"
}
