output "kustomize_settings" {
  description = "The contents of deploy/overlays/gcp/settings.env; IMAGE_TAG is the tag to deploy (the images workflow tags with the commit SHA)."
  value       = <<-EOT
    PROJECT_ID=${var.project_id}
    CLUSTER_LOCATION=${google_container_cluster.zenith.location}
    CLUSTER_NAME=${google_container_cluster.zenith.name}
    INSTANCE_CONNECTION_NAME=${google_sql_database_instance.zenith.connection_name}
    WORKLOAD_SERVICE_ACCOUNT=${google_service_account.workload.email}
    IMAGE_REPOSITORY=${local.image_repository}
    IMAGE_TAG=latest
  EOT
}

output "image_repository" {
  description = "Where the images go: <this>/ingestor, /rule-engine, /dispatcher and /migrate."
  value       = local.image_repository
}

output "get_credentials" {
  description = "The command that points kubectl at the cluster."
  value       = "gcloud container clusters get-credentials ${google_container_cluster.zenith.name} --region ${google_container_cluster.zenith.location} --project ${var.project_id}"
}

output "database_user" {
  description = "The PostgreSQL role of the workload service account, to be granted the schema (README.md)."
  value       = local.database_user
}

output "database_private_ip" {
  description = "The private address of the Cloud SQL instance, reachable from the cluster."
  value       = google_sql_database_instance.zenith.private_ip_address
}

output "github_workload_identity_provider" {
  description = "The provider for google-github-actions/auth (repository variable GCP_WORKLOAD_IDENTITY_PROVIDER); empty without var.github_repository."
  value       = join("", [for p in google_iam_workload_identity_pool_provider.github : p.name])
}

output "github_service_account" {
  description = "The account the images workflow acts as (repository variable GCP_SERVICE_ACCOUNT); empty without var.github_repository."
  value       = join("", [for sa in google_service_account.ci : sa.email])
}

locals {
  image_repository = "${google_artifact_registry_repository.zenith.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.zenith.repository_id}"
}
