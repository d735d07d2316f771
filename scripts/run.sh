#!/usr/bin/env bash
# `make run`: start a node with embedded defaults, deploy the bundled hello
# example, print how to reach it, and keep the node in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "make run needs root (sandboxes, network namespaces, cgroups)" >&2; exit 1; fi
export HANGAR_HOME="${HANGAR_HOME:-$HOME/.hangar}"
export HANGAR_LISTEN="${HANGAR_LISTEN:-127.0.0.1:8080}"
# The ingress serves public 80/443 on local ports, so it needs neither root nor free 80/443.
export HANGAR_INGRESS_PORTS="${HANGAR_INGRESS_PORTS:-80=18000,443=18443}"
url="http://$HANGAR_LISTEN"
mkdir -p "$HANGAR_HOME"

if curl -fsS "$url/v1/healthz" >/dev/null 2>&1; then
  echo "a node is already answering on $url; using it"
  node_pid=""
else
  ./bin/hangar node >>"$HANGAR_HOME/node.log" 2>&1 &
  node_pid=$!
  trap '[ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null; wait 2>/dev/null' EXIT
  for _ in $(seq 1 200); do
    curl -fsS "$url/v1/healthz" >/dev/null 2>&1 && break
    kill -0 "$node_pid" 2>/dev/null || { echo "the node failed to start; see $HANGAR_HOME/node.log" >&2; tail -20 "$HANGAR_HOME/node.log" >&2; exit 1; }
    sleep 0.1
  done
fi

# The CLI reaches the node only through its API: import is a push to its registry with the admin token.
export UKC_METRO="$url" UKC_TOKEN="$(cat "$HANGAR_HOME/token")"
./bin/hangar image import build/images/hello.oci.tar --ref hello:latest
if ! ./bin/hangar instance list -o json | grep -q '"name": "hello"'; then
  ./bin/hangar instance create --image hello:latest -n hello --restart on-failure
fi
ip=$(./bin/hangar instance list -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const i=JSON.parse(s).find(x=>x.name==="hello");process.stdout.write(i?.private_ip??"")})')
echo
echo "hello is running at http://$ip:8080/ :"
curl -fsS --max-time 5 "http://$ip:8080/" || true
cat <<MSG

  API:      $url/v1   (token: $HANGAR_HOME/token)
  Try:      curl http://$ip:8080/
            UKC_METRO=$url UKC_TOKEN=\$(cat $HANGAR_HOME/token) ./bin/hangar instance list
  Ingress:  service group domains on http://<name>.localhost (port 80 → local $HANGAR_INGRESS_PORTS),
            TLS with the node's CA: curl --cacert $HANGAR_HOME/ca.pem https://<name>.localhost:<local port of 443>/
  Logs:     $HANGAR_HOME/node.log
MSG
if [ -n "$node_pid" ]; then
  echo "  The node runs in the foreground; Ctrl-C stops it (instances keep running and are adopted at the next start)."
  wait "$node_pid"
fi
