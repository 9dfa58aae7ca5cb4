#!/usr/bin/env bash
# Measures what the warmgate webhook adds to pod creation: N AdmissionReviews of an opted-in
# Pod posted to a local `warmgate webhook` over TLS (one kept-alive connection, as the API
# server keeps one), and the time each /mutate took, client side (curl's time_total) and
# server side (the `micros` field of the webhook's log line). Prints p50/p90/p99/max.
#
# Usage: scripts/webhook-latency.sh [N] [BINARY]   (default 500, target/release/warmgate)
# Needs openssl, curl, python3. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-500}"
bin="${2:-target/release/warmgate}"
[ -x "$bin" ] || { echo "no $bin: cargo build --release --bin warmgate" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 1 -subj /CN=latency-ca 2>/dev/null
openssl req "${ec[@]}" -keyout tls.key -out tls.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext
openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out tls.crt -days 1 \
    -extfile ext 2>/dev/null

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$OLDPWD/$bin" webhook --listen "127.0.0.1:$port" --tls-cert tls.crt --tls-key tls.key \
    --log-format json 2> webhook.log &
pid=$!
for _ in $(seq 100); do grep -q "Webhook listening" webhook.log 2>/dev/null && break; sleep 0.1; done

# A Pod like a Deployment's: probes on a named port, a sidecar, opted in by annotation.
cat > review.json <<'JSON'
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"shop","object":{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"shop-7d4b9c-","namespace":"shop","labels":{"app":"shop"},"annotations":{"warmgate.io/inject":"true","warmgate.io/endpoints":"/,/api/items"}},"spec":{"containers":[{"name":"shop","image":"registry.example.com/shop:1.4.2","ports":[{"name":"http","containerPort":8080}],"readinessProbe":{"httpGet":{"path":"/ready","port":"http"},"periodSeconds":5},"livenessProbe":{"httpGet":{"path":"/live","port":"http"}},"resources":{"requests":{"cpu":"500m","memory":"512Mi"}}},{"name":"logs","image":"fluent-bit:3"}]}}}}
JSON
# One curl process, one connection: the body and header apply to every URL (given once,
# since a repeated --data-binary would be appended to the body), one output per URL.
{
    printf 'data-binary = "@review.json"\nheader = "Content-Type: application/json"\n'
    for _ in $(seq "$n"); do
        printf 'url = "https://127.0.0.1:%s/mutate"\noutput = "/dev/null"\n' "$port"
    done
} > curl.cfg
curl -sS --cacert ca.pem --noproxy '*' -w '%{time_total}\n' -K curl.cfg > client.txt

python3 - "$n" <<'PY'
import json, sys
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]
client = [float(l) * 1e3 for l in open("client.txt") if l.strip()]
server = [json.loads(l)["micros"] / 1e3 for l in open("webhook.log") if '"micros"' in l]
patched = sum(1 for l in open("webhook.log") if '"patched":true' in l)
for name, xs in [("client (curl time_total, kept-alive TLS)", client[1:]), ("server (/mutate handler)", server)]:
    print(f"{name}: n={len(xs)} p50={pct(xs,50):.2f} ms p90={pct(xs,90):.2f} ms "
          f"p99={pct(xs,99):.2f} ms max={max(xs):.2f} ms")
print(f"patched {patched} of {len(server)}; first request (TLS handshake) {client[0]:.2f} ms")
PY
