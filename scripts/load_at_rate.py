"""Open-loop load at a fixed rate: calls sent on schedule whatever the answers, each call's
latency measured from its intended send time (so a stall is not hidden by the generator
waiting: no coordinated omission). For scripts/bench-reliability.sh.

usage: load_at_rate.py PROTO_DIR ADDR RATE SECONDS [--call movie|rating] [--window FROM TO]
  --call movie: MovieService.GetMovieDetails (default); rating: RatingService.GetAggregatedRating
Prints a JSON summary: calls, failures by code (STALE: answered from a fallback), and
p50/p99/max in ms of the calls that succeeded, over the whole run and over calls intended
inside the window (seconds from the start), e.g. a stall.
"""

import argparse
import asyncio
import importlib
import json
import os
import shutil
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc


def load_stubs(proto_dir):
    out = tempfile.mkdtemp(prefix="movieapp-stubs-")
    if protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}",
                    f"--grpc_python_out={out}", os.path.join(proto_dir, "movie.proto")]) != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)
    try:
        return importlib.import_module("movie_pb2"), importlib.import_module("movie_pb2_grpc")
    finally:
        # Imported: the generated files are no longer needed.
        sys.path.remove(out)
        shutil.rmtree(out, ignore_errors=True)


def summary(records):
    latencies = sorted(r[1] for r in records if r[2] == "OK")
    failures = {}
    for _, _, code in records:
        if code != "OK":
            failures[code] = failures.get(code, 0) + 1

    def pct(p):
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 1)

    return {"calls": len(records), "failed": sum(failures.values()), "failures": failures,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1] * 1000, 1) if latencies else None}


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("proto_dir")
    parser.add_argument("addr")
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--call", choices=["movie", "rating"], default="movie")
    parser.add_argument("--window", nargs=2, type=float)
    args = parser.parse_args()
    rate, seconds, window = args.rate, args.seconds, args.window
    pb, stubs = load_stubs(args.proto_dir)
    records = []
    async with grpc.aio.insecure_channel(args.addr) as channel:
        if args.call == "movie":
            method = stubs.MovieServiceStub(channel).GetMovieDetails
            request = pb.GetMovieDetailsRequest(movie_id="1")
        else:
            method = stubs.RatingServiceStub(channel).GetAggregatedRating
            request = pb.GetAggregatedRatingRequest(record_id="1", record_type="movie")
        await method(request, timeout=5)
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def one(intended):
            code = "OK"
            try:
                call = method(request, timeout=5)
                await call
                # A fallback answer (stale) is not counted as a success.
                if any(k == "movieapp-stale-seconds" for k, _ in await call.initial_metadata()):
                    code = "STALE"
            except grpc.aio.AioRpcError as e:
                code = e.code().name
            records.append((intended - start, loop.time() - intended, code))

        tasks = []
        n = int(rate * seconds)
        for i in range(n):
            intended = start + i / rate
            delay = intended - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(intended)))
        await asyncio.gather(*tasks)
    result = {"rate": rate, "seconds": seconds, "all": summary(records)}
    if window:
        result["window"] = {"from_s": window[0], "to_s": window[1],
                            **summary([r for r in records if window[0] <= r[0] < window[1]])}
    print(json.dumps(result))


asyncio.run(main())
