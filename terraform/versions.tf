terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
  }

  # State lives in a GCS bucket named at init time:
  #   terraform init -backend-config="bucket=<state bucket>"
  backend "gcs" {
    prefix = "zenith"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
