"""The book's grpcurl calls (SPEC section 1), made with an independent client: Python grpcio.

Stubs are generated from proto/movie.proto at run time with grpcio-tools, so this client
shares nothing with movieapp but the wire contract.

usage: book_calls.py PROTO_DIR METADATA_ADDR RATING_ADDR MOVIE_ADDR
Prints one line per check; exits non-zero on the first failure.
"""

import importlib
import os
import shutil
import sys
import tempfile

import grpc
from grpc_tools import protoc


def load_stubs(proto_dir):
    out = tempfile.mkdtemp(prefix="movieapp-stubs-")
    status = protoc.main([
        "protoc",
        f"-I{proto_dir}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        os.path.join(proto_dir, "movie.proto"),
    ])
    if status != 0:
        sys.exit(f"protoc failed with status {status}")
    sys.path.insert(0, out)
    try:
        return importlib.import_module("movie_pb2"), importlib.import_module("movie_pb2_grpc")
    finally:
        # Imported: the generated files are no longer needed.
        sys.path.remove(out)
        shutil.rmtree(out, ignore_errors=True)


def expect_code(what, call, code):
    try:
        call()
    except grpc.RpcError as e:
        if e.code() != code:
            sys.exit(f"FAIL {what}: expected {code.name}, got {e.code().name}: {e.details()}")
        print(f"ok {what}: {code.name} ({e.details()})")
        return
    sys.exit(f"FAIL {what}: expected {code.name}, got OK")


def main():
    proto_dir, metadata_addr, rating_addr, movie_addr = sys.argv[1:5]
    pb, rpc = load_stubs(proto_dir)
    metadata = rpc.MetadataServiceStub(grpc.insecure_channel(metadata_addr))
    rating = rpc.RatingServiceStub(grpc.insecure_channel(rating_addr))
    movie = rpc.MovieServiceStub(grpc.insecure_channel(movie_addr))

    # grpcurl -d '{"record_id":"1","record_type":"movie","user_id":"alex","rating_value":5}' ... RatingService/PutRating
    rating.PutRating(pb.PutRatingRequest(record_id="1", record_type="movie", user_id="alex", rating_value=5))
    print("ok PutRating")

    # grpcurl -d '{"record_id":"1","record_type":"movie"}' ... RatingService/GetAggregatedRating
    got = rating.GetAggregatedRating(pb.GetAggregatedRatingRequest(record_id="1", record_type="movie"))
    if got.rating_value != 5.0:
        sys.exit(f"FAIL GetAggregatedRating: expected 5.0, got {got.rating_value}")
    print(f"ok GetAggregatedRating: {got.rating_value}")

    # grpcurl -d '{"movie_id":"1"}' ... MovieService/GetMovieDetails: no metadata yet.
    expect_code("GetMovieDetails before metadata",
                lambda: movie.GetMovieDetails(pb.GetMovieDetailsRequest(movie_id="1")),
                grpc.StatusCode.NOT_FOUND)

    metadata.PutMetadata(pb.PutMetadataRequest(metadata=pb.Metadata(
        id="1", title="The Movie", description="The Movie, the one and only", director="Mr. D")))
    details = movie.GetMovieDetails(pb.GetMovieDetailsRequest(movie_id="1")).movie_details
    if details.rating != 5.0 or details.metadata.title != "The Movie":
        sys.exit(f"FAIL GetMovieDetails: got {details}")
    print(f"ok GetMovieDetails: rating {details.rating}, title {details.metadata.title!r}")

    expect_code("GetMetadata of an unknown movie",
                lambda: metadata.GetMetadata(pb.GetMetadataRequest(movie_id="nope")),
                grpc.StatusCode.NOT_FOUND)
    expect_code("GetAggregatedRating of an unrated record",
                lambda: rating.GetAggregatedRating(pb.GetAggregatedRatingRequest(record_id="nope", record_type="movie")),
                grpc.StatusCode.NOT_FOUND)
    expect_code("PutRating with value 6",
                lambda: rating.PutRating(pb.PutRatingRequest(record_id="1", record_type="movie", user_id="alex", rating_value=6)),
                grpc.StatusCode.INVALID_ARGUMENT)
    expect_code("PutRating with value 0",
                lambda: rating.PutRating(pb.PutRatingRequest(record_id="1", record_type="movie", user_id="alex", rating_value=0)),
                grpc.StatusCode.INVALID_ARGUMENT)
    expect_code("GetMovieDetails with an empty id",
                lambda: movie.GetMovieDetails(pb.GetMovieDetailsRequest(movie_id="")),
                grpc.StatusCode.INVALID_ARGUMENT)
    expect_code("PutMetadata without metadata",
                lambda: metadata.PutMetadata(pb.PutMetadataRequest()),
                grpc.StatusCode.INVALID_ARGUMENT)
    # Chapter 16: the client-streaming UploadFile, the book's fields first.
    import hashlib
    chunks = [bytes([i % 251]) * 65536 for i in range(20)] + [b"tail"]
    def stream():
        yield pb.UploadRequest(filename="poster.bin", movie_id="1", chunk=chunks[0])
        for chunk in chunks[1:]:
            yield pb.UploadRequest(chunk=chunk)
    got = movie.UploadFile(stream())
    expected = hashlib.sha256(b"".join(chunks)).hexdigest()
    if got.sha256 != expected or got.size != sum(map(len, chunks)):
        sys.exit(f"FAIL UploadFile: got {got}, expected sha256 {expected}")
    print(f"ok UploadFile: {got.size} bytes, {got.message!r}")
    listed = movie.ListFiles(pb.ListFilesRequest(movie_id="1")).files
    if [f.filename for f in listed] != ["poster.bin"] or listed[0].sha256 != expected:
        sys.exit(f"FAIL ListFiles: got {listed}")
    print("ok ListFiles")
    expect_code("UploadFile named ../x",
                lambda: movie.UploadFile(iter([pb.UploadRequest(filename="../x", movie_id="1", chunk=b"x")])),
                grpc.StatusCode.INVALID_ARGUMENT)
    print("all book calls ok")


if __name__ == "__main__":
    main()
