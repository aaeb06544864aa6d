// Package validate checks, without Docker or a cluster, that the deployment under deploy/
// (docker-compose.yml, the Envoy gateway, the kustomization) names only what the binary has:
// its targets, ports, probe paths, environment twins, secrets and routes.
package validate
