"""The peers facepay's face index is measured against: FAISS (IndexFlatIP, the exact scan, and
IndexHNSWFlat) and hnswlib, on the same vectors in the same run.

    python bench/index_peer.py --gallery G.f32 --queries Q.f32 --dim D --json OUT

The files are raw little-endian float32, one unit vector after another, written by `facepay
bench index`, which runs this script itself. Queries run one at a time on one thread (the graphs
are built on every core, since build time is not what is compared). Recall@1 is the share of
queries whose first result is the exact scan's first result. Needs: pip install -r
bench/requirements-index.txt
"""

import argparse
import json
import os
import statistics
import time

import numpy as np


def latencies(search, queries):
    """Per-query milliseconds and first results, one query at a time."""
    times, firsts = [], []
    for q in queries:
        t0 = time.perf_counter()
        ids = search(q[None, :])
        times.append((time.perf_counter() - t0) * 1e3)
        firsts.append(int(ids[0]))
    return times, firsts


def summary(times):
    ordered = sorted(times)
    return {"median_ms": statistics.median(ordered), "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}


def recall(firsts, truth):
    return sum(a == b for a, b in zip(firsts, truth)) / len(truth)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gallery", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--dim", type=int, required=True)
    parser.add_argument("--json", required=True)
    parser.add_argument("--ef", default="16,32,64,128,256,512", help="efSearch / ef values to try")
    args = parser.parse_args()

    import faiss
    import hnswlib

    gallery = np.fromfile(args.gallery, dtype="<f4").reshape(-1, args.dim)
    queries = np.fromfile(args.queries, dtype="<f4").reshape(-1, args.dim)
    cores = os.cpu_count() or 1
    efs = [int(x) for x in args.ef.split(",")]
    report = {"n": len(gallery), "queries": len(queries), "faiss_version": faiss.__version__}

    faiss.omp_set_num_threads(1)
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(gallery)
    flat.search(queries[:5], 10)  # warm up
    times, truth = latencies(lambda q: flat.search(q, 10)[1][0], queries)
    report["faiss_flat"] = summary(times)

    faiss.omp_set_num_threads(cores)
    hnsw = faiss.IndexHNSWFlat(args.dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 40
    t0 = time.perf_counter()
    hnsw.add(gallery)
    report["faiss_hnsw"] = {"M": 32, "ef_construction": 40, "build_s": time.perf_counter() - t0, "runs": []}
    faiss.omp_set_num_threads(1)
    for ef in efs:
        hnsw.hnsw.efSearch = ef
        times, firsts = latencies(lambda q: hnsw.search(q, 10)[1][0], queries)
        report["faiss_hnsw"]["runs"].append({"ef": ef, "recall_at_1": recall(firsts, truth), **summary(times)})
    del hnsw

    graph = hnswlib.Index(space="ip", dim=args.dim)
    graph.init_index(max_elements=len(gallery), ef_construction=100, M=16)
    t0 = time.perf_counter()
    graph.add_items(gallery, num_threads=cores)
    report["hnswlib"] = {"M": 16, "ef_construction": 100, "build_s": time.perf_counter() - t0, "runs": []}
    graph.set_num_threads(1)
    for ef in efs:
        graph.set_ef(max(ef, 10))
        times, firsts = latencies(lambda q: graph.knn_query(q, k=10)[0][0], queries)
        report["hnswlib"]["runs"].append({"ef": ef, "recall_at_1": recall(firsts, truth), **summary(times)})

    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
