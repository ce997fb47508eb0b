// Package deploy checks Zenith's deployment artefacts without a cluster,
// a Docker engine or a cloud account, so that a manifest that names a
// variable no service reads, probes a port nothing listens on, or forgets a
// module in the Dockerfile fails `make test` instead of a rollout.
//
// Its tests render every Kustomize overlay in deploy/overlays with `kubectl
// kustomize` and decode the result into the Kubernetes API types (unknown
// fields are errors); load docker-compose.yml with the Compose
// specification's own loader, and check that its Prometheus scrapes every
// tier, its Grafana provisions the dashboard and the data source the
// dashboard selects, and its services send their traces to Jaeger; run `terraform fmt -check` on terraform/;
// lint .github/workflows with actionlint; and compare the Dockerfile with
// go.work. What services read is taken from their Config types' env tags,
// and stream and consumer names from the constants the services use, so
// the checks follow the code. The package has no other code.
package deploy
