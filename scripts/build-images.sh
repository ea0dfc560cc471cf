#!/usr/bin/env bash
# Builds the three service images, tagged with the project's version, with
# docker when a Docker engine answers, otherwise inside minikube
# (`minikube image build`), so `kubectl apply -k deploy/ingress` finds them.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
services=(auth ledger db-gateway)

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  build() { docker build -f "services/$1/Dockerfile" -t "finledger/$1:$version" .; }
elif command -v minikube >/dev/null; then
  build() { minikube image build -f "services/$1/Dockerfile" -t "finledger/$1:$version" .; }
else
  echo "neither a Docker engine nor minikube is available to build images" >&2
  exit 1
fi

for service in "${services[@]}"; do
  echo "building finledger/$service:$version"
  build "$service"
done
