variable "project_id" {
  description = "The GCP project Zenith runs in."
  type        = string
}

variable "region" {
  description = "The region of the cluster, the database, the registry and the network."
  type        = string
  default     = "europe-west1"
}

variable "cluster_name" {
  description = "Name of the GKE Autopilot cluster."
  type        = string
  default     = "zenith"
}

variable "namespace" {
  description = "Kubernetes namespace of the Zenith workloads; the gcp overlay uses zenith."
  type        = string
  default     = "zenith"
}

variable "sql_instance_name" {
  description = "Name of the Cloud SQL for PostgreSQL instance."
  type        = string
  default     = "zenith"
}

variable "sql_tier" {
  description = "Machine tier of the Cloud SQL instance (Enterprise edition)."
  type        = string
  default     = "db-custom-2-7680"
}

variable "sql_high_availability" {
  description = "Run the database with a standby in a second zone (REGIONAL)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to destroy the cluster and the database. Set false before destroying a test environment."
  type        = bool
  default     = true
}

variable "api_key_secrets" {
  description = "Secret Manager secrets holding the API keys the configuration names in api_keys_from_env; the gcp overlay maps zenith-shop-api-key to SHOP_API_KEY."
  type        = list(string)
  default     = ["zenith-shop-api-key"]
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose Actions may push images; empty creates no GitHub access."
  type        = string
  default     = ""
}

variable "network_ranges" {
  description = "CIDR ranges of the VPC: nodes, pods, services, and the range peered to Cloud SQL."
  type = object({
    nodes    = string
    pods     = string
    services = string
    sql      = string
  })
  default = {
    nodes    = "10.10.0.0/20"
    pods     = "10.20.0.0/14"
    services = "10.30.0.0/20"
    sql      = "10.40.0.0/20"
  }
}
