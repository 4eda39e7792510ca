"""Qdrant's own scoring of what the native indexer uploaded: reads a JSON file
{ "collection": <the PUT /collections body the indexer sent>, "points": [...], "queries": [[[f32]]] },
builds a Qdrant Edge shard (the server's shard code, in-process) configured from that body, upserts the
points as sent and answers each query with every document's best passage score, best first:
[[[doc_id, score], ...], ...] on stdout. Run by tests/node/qdrant.test.mjs with set-up's venv."""

import json
import sys
import tempfile
import uuid

from qdrant_edge import (
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeVectorParams,
    MultiVectorComparator,
    MultiVectorConfig,
    Point,
    Query,
    QueryRequest,
    UpdateOperation,
    VectorStorageDatatype,
)

DISTANCES = {"Dot": Distance.Dot, "Cosine": Distance.Cosine, "Euclid": Distance.Euclid}
DATATYPES = {
    "float32": VectorStorageDatatype.Float32,
    "float16": VectorStorageDatatype.Float16,
    "uint8": VectorStorageDatatype.Uint8,
}
COMPARATORS = {"max_sim": MultiVectorComparator.MaxSim}


def shard_for(collection, path):
    vectors = collection["vectors"]
    params = EdgeVectorParams(
        size=vectors["size"],
        distance=DISTANCES[vectors["distance"]],
        multivector_config=MultiVectorConfig(COMPARATORS[vectors["multivector_config"]["comparator"]]),
        datatype=DATATYPES[vectors.get("datatype", "float32")],
    )
    return EdgeShard.create(path, EdgeConfig(vectors={"": params}))


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    with tempfile.TemporaryDirectory() as path:
        shard = shard_for(job["collection"], path)
        points = [Point(uuid.UUID(p["id"]), p["vector"], p["payload"]) for p in job["points"]]
        for start in range(0, len(points), 256):
            shard.update(UpdateOperation.upsert_points(points[start : start + 256]))
        answers = []
        for query in job["queries"]:
            scored = shard.query(
                QueryRequest(limit=len(points), query=Query.Nearest(query), with_payload=True)
            )
            best = {}
            for point in scored:
                doc = point.payload["doc_id"]
                best[doc] = max(best.get(doc, float("-inf")), point.score)
            answers.append(sorted(best.items(), key=lambda item: -item[1]))
        shard.close()
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
