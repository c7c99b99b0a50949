"""A protected write over TLS with an independent client: Python grpcio with
ssl_channel_credentials, trusting ca.crt and, under mutual TLS, presenting a client
certificate.

usage: tls_calls.py PROTO_DIR CA_FILE RATING_ADDR TOKEN [CLIENT_CERT CLIENT_KEY]
  TOKEN "-" sends none. Prints one line per check; exits non-zero on the first failure.
Checks: PutRating with the token succeeds; without it, UNAUTHENTICATED; a channel that
does not trust ca.crt fails (UNAVAILABLE); with CLIENT_CERT, a channel presenting no
certificate fails too.
"""

import sys

import grpc

from book_calls import load_stubs, expect_code


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    proto_dir, ca_file, rating_addr, token = sys.argv[1:5]
    client = sys.argv[5:7]
    pb, rpc = load_stubs(proto_dir)
    ca = read(ca_file)
    # The certificate is for localhost and 127.0.0.1; grpcio checks the address's name.
    if client:
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=read(client[1]), certificate_chain=read(client[0])
        )
    else:
        creds = grpc.ssl_channel_credentials(root_certificates=ca)
    rating = rpc.RatingServiceStub(grpc.secure_channel(rating_addr, creds))
    request = pb.PutRatingRequest(record_id="7", record_type="movie", user_id="py", rating_value=4)
    metadata = [] if token == "-" else [("authorization", f"Bearer {token}")]
    rating.PutRating(request, metadata=metadata, timeout=10)
    print("ok PutRating over TLS" + (" with a client certificate" if client else ""))
    got = rating.GetAggregatedRating(
        pb.GetAggregatedRatingRequest(record_id="7", record_type="movie"), timeout=10
    )
    if got.rating_value != 4.0:
        sys.exit(f"FAIL GetAggregatedRating: expected 4.0, got {got.rating_value}")
    print("ok GetAggregatedRating over TLS")
    if token != "-":
        expect_code("PutRating without a token", lambda: rating.PutRating(request, timeout=10),
                    grpc.StatusCode.UNAUTHENTICATED)
    # Trusting no CA of ours (the system's roots only): the handshake fails.
    untrusting = rpc.RatingServiceStub(grpc.secure_channel(rating_addr, grpc.ssl_channel_credentials()))
    expect_code("a client that does not trust the CA",
                lambda: untrusting.PutRating(request, metadata=metadata, timeout=5),
                grpc.StatusCode.UNAVAILABLE)
    if client:
        anonymous = rpc.RatingServiceStub(
            grpc.secure_channel(rating_addr, grpc.ssl_channel_credentials(root_certificates=ca))
        )
        expect_code("a client without a certificate under mutual TLS",
                    lambda: anonymous.PutRating(request, metadata=metadata, timeout=5),
                    grpc.StatusCode.UNAVAILABLE)
    print("all TLS calls ok")


if __name__ == "__main__":
    main()
