"""The peers facepay's face index is measured against, on the same vectors in the same run:
FAISS doing the same work (IndexScalarQuantizer 8-bit with IndexRefineFlat for the exact search,
as facepay scans int8 codes and rescores a shortlist in f32; IndexIVFPQFastScan with 4-bit codes,
the same list count and the same refined shortlist for the approximate one; IndexFlatIP searched
one at a time and in batches of 8), and the graph indexes IndexHNSWFlat and hnswlib.

    python bench/index_peer.py --gallery G.f32 --queries Q.f32 --dim D --nlist L --shortlist S \
        --nprobes 256,512 --json OUT

The files are raw little-endian float32, one unit vector after another, written by `facepay
bench index`, which runs this script itself. Queries run one at a time on one thread unless batched
(indexes are built and trained on every core, since build time is not what is compared).
Recall@1 is the share of queries whose first result is the exact scan's first result, given for
the first half of the queries (where `facepay bench index` picks each index's setting) and the
second half (where the picked setting is scored). Needs: pip install -r
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


def halves(firsts, truth):
    """Recall@1 on the calibration half and on the scored half of the queries."""
    half = len(truth) // 2
    return {"recall_at_1_calibration": recall(firsts[:half], truth[:half]),
            "recall_at_1_scored": recall(firsts[half:], truth[half:])}


def batched(search, queries, size):
    """Per-query milliseconds when `size` queries are searched in one call."""
    times = []
    for start in range(0, len(queries), size):
        group = queries[start:start + size]
        t0 = time.perf_counter()
        search(group)
        times.append((time.perf_counter() - t0) * 1e3 / len(group))
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gallery", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--dim", type=int, required=True)
    parser.add_argument("--json", required=True)
    parser.add_argument("--ef", default="16,32,64,128,256,512", help="efSearch / ef values to try")
    parser.add_argument("--nlist", type=int, required=True, help="inverted lists, as facepay's index makes")
    parser.add_argument("--shortlist", type=int, required=True, help="candidates rescored in f32, as facepay's")
    parser.add_argument("--nprobes", required=True, help="lists searched, the values facepay tries")
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
    report["faiss_flat_batch8"] = summary(batched(lambda group: flat.search(group, 10), queries, 8))

    # The exact search facepay makes: 8-bit codes scanned, the best `shortlist` rescored in f32.
    k_factor = args.shortlist / 10
    faiss.omp_set_num_threads(cores)
    sq8 = faiss.IndexScalarQuantizer(args.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    sq8_refined = faiss.IndexRefineFlat(sq8)  # wraps the codes while empty; both are filled together
    sq8_refined.k_factor = k_factor
    sq8_refined.train(gallery)
    sq8_refined.add(gallery)
    faiss.omp_set_num_threads(1)
    sq8_refined.search(queries[:5], 10)  # warm up
    times, firsts = latencies(lambda q: sq8_refined.search(q, 10)[1][0], queries)
    report["faiss_sq8_refine"] = {"k_factor": k_factor, "recall_at_1": recall(firsts, truth), **summary(times)}
    del sq8_refined

    # The approximate search facepay makes: inverted lists of 4-bit product codes (two dimensions
    # a code), scanned by lists, the best `shortlist` rescored in f32.
    faiss.omp_set_num_threads(cores)
    coarse = faiss.IndexFlatIP(args.dim)
    ivfpq = faiss.IndexIVFPQFastScan(coarse, args.dim, args.nlist, args.dim // 2, 4, faiss.METRIC_INNER_PRODUCT)
    ivf_refined = faiss.IndexRefineFlat(ivfpq)
    ivf_refined.k_factor = k_factor
    t0 = time.perf_counter()
    ivf_refined.train(gallery[:: max(1, len(gallery) // 131072)])
    ivf_refined.add(gallery)
    report["faiss_ivfpq_fastscan"] = {"nlist": args.nlist, "m": args.dim // 2, "bits": 4, "k_factor": k_factor,
                                      "build_s": time.perf_counter() - t0, "runs": []}
    faiss.omp_set_num_threads(1)
    for nprobe in [int(x) for x in args.nprobes.split(",")]:
        ivfpq.nprobe = min(nprobe, args.nlist)
        ivf_refined.search(queries[:5], 10)  # warm up
        times, firsts = latencies(lambda q: ivf_refined.search(q, 10)[1][0], queries)
        report["faiss_ivfpq_fastscan"]["runs"].append({"nprobe": nprobe, **halves(firsts, truth), **summary(times)})
    del ivf_refined

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
        report["faiss_hnsw"]["runs"].append({"ef": ef, **halves(firsts, truth), **summary(times)})
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
        report["hnswlib"]["runs"].append({"ef": ef, **halves(firsts, truth), **summary(times)})

    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
