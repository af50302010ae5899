#!/usr/bin/env bash
# Builds once and runs every test against real PostgreSQL and RabbitMQ:
# Testcontainers when a Docker engine is reachable, else servers from Debian's packages (installed if missing).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/infra.sh

if docker_engine_available && [ -z "${SP_USE_LOCAL_INFRA:-}" ]; then
  log "Docker engine found: the tests start PostgreSQL and RabbitMQ with Testcontainers"
else
  SP_PG_EXTRA_OPTIONS="-c fsync=off -c synchronous_commit=off" start_local_infra
fi

# The webhooks tests verify signatures with the reference Standard Webhooks library, from npm.
command -v npm >/dev/null 2>&1 || { log "installing Node.js and npm from Debian's packages"; as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
npm ci --prefix tests/ScheduledPosts.Webhooks.Tests/StandardWebhooks --no-audit --no-fund --silent
# The end-to-end tests generate a TypeScript client from /openapi.json and compile it (openapi-typescript, tsc).
npm ci --prefix tests/ScheduledPosts.EndToEnd.Tests/TypeScriptClient --no-audit --no-fund --silent
# ... and drive the gRPC port from Node with nothing but the .proto files (@grpc/grpc-js, @grpc/proto-loader).
npm ci --prefix tests/ScheduledPosts.EndToEnd.Tests/GrpcNodeClient --no-audit --no-fund --silent
# The monitoring tests run promtool on deploy/monitoring and a real Prometheus scraping the suite.
install_prometheus
# The repository tests render the Kubernetes manifests with kubectl kustomize.
install_kubectl
# The end-to-end tests lint /openapi.json with Redocly's CLI (needs Node >= 20.19): fetch it up front.
npx --yes @redocly/cli@2.77.0 --version >/dev/null

dotnet build ScheduledPosts.sln -c Release -nologo -clp:ErrorsOnly

# The chaos suite stops and starts servers of its own (a second PostgreSQL cluster and RabbitMQ node), never the shared ones.
source scripts/chaos-infra.sh
start_chaos_infra

if [ "$#" -gt 0 ]; then
  dotnet test ScheduledPosts.sln -c Release --no-build -nologo "$@"
else
  # Two lanes at once, one test process each (two cores), each lane's test classes in parallel: the end-to-end tests;
  # and every other project, then the benchmark program with small N, so it never rots (its figures here are not the
  # ones to quote: docs/performance.md). Then the chaos scenarios, one at a time, on servers of their own and a quieter
  # machine: a bound such as "a post due beside a backlog of 5,000 publishes within 5 s" is not to be judged beside
  # other tests.
  dotnet test tests/ScheduledPosts.EndToEnd.Tests -c Release --no-build -nologo &
  end_to_end=$!
  failed=0
  { dotnet test ScheduledPosts.sln -c Release --no-build -nologo -m:1 --filter 'Category!=Chaos&FullyQualifiedName!~ScheduledPosts.EndToEnd.' \
    && dotnet run -c Release --no-build --project tests/ScheduledPosts.Benchmarks -- all --quick; } || failed=1
  wait "$end_to_end" || failed=1
  dotnet test tests/ScheduledPosts.Chaos.Tests -c Release --no-build -nologo || failed=1
  exit "$failed"
fi
