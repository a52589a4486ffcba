#!/usr/bin/env bash
# Smoke test of the built image, run the way the manifests run it: read-only root file
# system, /tmp as the only writable path, the fixed non-root user.
#
#   scripts/image-smoke.sh [IMAGE]            (default convtrack:<project version>)
#
# Checks `--help`, `migrate` and `serve ingest` on SQLite under /tmp, a gRPC health check from
# the host, the user the process runs as, and that SIGTERM (`docker stop`) ends it cleanly.
# With SMOKE_DATABASE_URL (an empty PostgreSQL database), `migrate` and `serve ingest` run on it
# instead, as in Kubernetes: the migrate Job first, then the service with
# CONVTRACK_CREATE_TABLES=n. Containers use the host network with loopback addresses only.
# Needs dockerd and .venv (grpcio-health-checking; PYTHON overrides the interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
version="$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
image="${1:-convtrack:$version}"
container="convtrack-smoke-$$"
run=(docker run --network host --read-only --tmpfs /tmp)
migrate_env=()
serve_env=()
if [[ -n "${SMOKE_DATABASE_URL:-}" ]]; then
  # On PostgreSQL ingest needs its vault secret (a Kubernetes Secret file in the manifests).
  vault_secret="$("$python" -c 'import secrets; print(secrets.token_hex(32))')"
  migrate_env=(--env "CONVTRACK_DATABASE_URL=$SMOKE_DATABASE_URL"
    --env "INGEST_VAULT_SECRET=$vault_secret")
  serve_env=("${migrate_env[@]}" --env CONVTRACK_CREATE_TABLES=n)
fi

fail() {
  echo "image-smoke: FAIL: $*" >&2
  if docker container inspect "$container" >/dev/null 2>&1; then
    docker logs "$container" 2>&1 | tail -20 >&2
  fi
  exit 1
}
trap 'docker rm --force "$container" >/dev/null 2>&1 || true' EXIT

echo "image-smoke: $image"
"${run[@]}" --rm "$image" --help | grep -q "serve" || fail "--help does not list 'serve'"
"${run[@]}" --rm "${migrate_env[@]}" "$image" migrate >/dev/null || fail "migrate"
echo "image-smoke: --help and migrate ok"

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"${run[@]}" --detach --name "$container" --env "INGEST_LISTEN=127.0.0.1:$port" "${serve_env[@]}" \
  "$image" serve ingest >/dev/null

health_check='
import sys, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
address, service = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 60
with grpc.insecure_channel(address) as channel:
    stub = health_pb2_grpc.HealthStub(channel)
    while True:
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as error:
            status = error.code().name
        if status == "SERVING" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
print(status)
sys.exit(status != "SERVING")
'
"$python" -c "$health_check" "127.0.0.1:$port" convtrack.ingest.v1.IngestService \
  || fail "ingest on 127.0.0.1:$port is not SERVING"
echo "image-smoke: serve ingest on 127.0.0.1:$port is SERVING"

uid="$(docker exec "$container" sh -c 'echo "$(id -u):$(id -g)"')"
[[ "$uid" == "10001:10001" ]] || fail "runs as $uid, not 10001:10001"
echo "image-smoke: runs as $uid"

started="$(date +%s)"
docker stop --time 30 "$container" >/dev/null
stopped_in=$(($(date +%s) - started))
exit_code="$(docker inspect --format '{{.State.ExitCode}}' "$container")"
[[ "$exit_code" == 0 ]] || fail "exit code $exit_code after SIGTERM (137 means it was killed)"
if docker logs "$container" 2>&1 | grep -q Traceback; then
  fail "traceback in the logs"
fi
echo "image-smoke: SIGTERM ended ingest with exit code 0 in ${stopped_in}s"
echo "image-smoke: ok"
