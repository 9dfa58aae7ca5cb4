"""A real grpcio server for tests/grpc.rs and loadgen/tests/run_grpc.rs: shop.Cart/Get on
127.0.0.1 (h2c), with server reflection (v1alpha only) unless --no-reflection. Every request is appended to --log as one JSON line
(the message as protobuf's JSON mapping), so the test sees exactly what arrived. The answer's
status depends on the id: id % 10 == 0 -> NOT_FOUND, id % 10 == 1 -> INVALID_ARGUMENT, else OK.

Usage: server.py --port PORT --log FILE [--no-reflection] [--descriptor-out FILE]
Prints "listening on PORT" once serving. Needs grpcio, grpcio-reflection and grpcio-tools (PyPI).
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
import threading
from concurrent import futures

import grpc
from grpc_tools import protoc
from google.protobuf import json_format

HERE = os.path.dirname(os.path.abspath(__file__))


def generate(out_dir, descriptor_out):
    """Compiles shop.proto into out_dir (and a descriptor set with imports, if asked)."""
    args = ["protoc", f"-I{HERE}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    if descriptor_out:
        args += [f"--descriptor_set_out={descriptor_out}", "--include_imports"]
    args.append(os.path.join(HERE, "shop.proto"))
    if protoc.main(args) != 0:
        sys.exit("protoc failed on shop.proto")
    sys.path.insert(0, out_dir)
    return importlib.import_module("shop_pb2"), importlib.import_module("shop_pb2_grpc")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--no-reflection", action="store_true")
    p.add_argument("--descriptor-out")
    p.add_argument("--tls-cert", help="PEM certificate: serve TLS (h2 by ALPN) instead of h2c")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    a = p.parse_args()
    pb, pb_grpc = generate(tempfile.mkdtemp(prefix="shop-proto-"), a.descriptor_out)
    log = open(a.log, "a", buffering=1)
    lock = threading.Lock()

    class Cart(pb_grpc.CartServicer):
        def Get(self, request, context):
            line = json_format.MessageToJson(request, indent=None, preserving_proto_field_name=True)
            with lock:
                log.write(line + "\n")
            if request.id % 10 == 0:
                context.abort(grpc.StatusCode.NOT_FOUND, "no such cart")
            if request.id % 10 == 1:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad id")
            return pb.CartReply(id=request.id, items=len(request.tags))

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_CartServicer_to_server(Cart(), server)
    if not a.no_reflection:
        from grpc_reflection.v1alpha import reflection
        names = (pb.DESCRIPTOR.services_by_name["Cart"].full_name, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server)
    if a.tls_cert:
        with open(a.tls_key, "rb") as k, open(a.tls_cert, "rb") as c:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        server.add_secure_port(f"127.0.0.1:{a.port}", creds)
    else:
        server.add_insecure_port(f"127.0.0.1:{a.port}")
    server.start()
    print(f"listening on {a.port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
