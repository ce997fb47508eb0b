# A VPC of its own: nodes have private addresses only and reach the
# internet (webhook sinks) through Cloud NAT; Cloud SQL is peered in over
# private services access, so the database has no public address.

resource "google_compute_network" "zenith" {
  name                    = "zenith"
  auto_create_subnetworks = false

  depends_on = [google_project_service.enabled]
}

resource "google_compute_subnetwork" "gke" {
  name                     = "zenith-gke"
  region                   = var.region
  network                  = google_compute_network.zenith.id
  ip_cidr_range            = var.network_ranges.nodes
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.network_ranges.pods
  }

  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.network_ranges.services
  }
}

resource "google_compute_router" "zenith" {
  name    = "zenith"
  region  = var.region
  network = google_compute_network.zenith.id
}

resource "google_compute_router_nat" "zenith" {
  name                               = "zenith"
  region                             = var.region
  router                             = google_compute_router.zenith.name
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"
}

resource "google_compute_global_address" "sql" {
  name          = "zenith-sql"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  address       = split("/", var.network_ranges.sql)[0]
  prefix_length = tonumber(split("/", var.network_ranges.sql)[1])
  network       = google_compute_network.zenith.id
}

resource "google_service_networking_connection" "sql" {
  network                 = google_compute_network.zenith.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.sql.name]
}
