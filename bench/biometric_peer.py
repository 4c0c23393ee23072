"""The Python reference pipeline facepay's biometric engine is measured against.

The usual way to run these models: OpenCV for pixels (imdecode, resize, warpAffine) and onnxruntime
for inference, one thread each. It mirrors facepay's pipeline step for step: YuNet on the photo
letterboxed into 640x640, the five landmarks mapped onto the ArcFace 112x112 template by a
least-squares similarity transform, the recognizer, and the two MiniFASNet liveness models on
crops at 2.7x and 4.0x the box.

    python bench/biometric_peer.py bench --models DIR --recognizer NAME --images LIST --repeat N --json OUT [--flip]
    python bench/biometric_peer.py lfw --models DIR --recognizer NAME --images DIR --pairs FILE

`facepay bench biometric` runs the first itself, in the same run as its own measurement; the
second reports the pairs-protocol accuracy of this reference on the same pairs as `facepay eval
lfw`. Needs: pip install -r bench/requirements.txt
"""

import argparse
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

RECOGNIZERS = {
    # file, channel order, mean, std (per channel, on 0..255 pixels)
    "mobilefacenet_128": ("mobilefacenet_128.onnx", "RGB", [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]),
    "faceplugin_fr_feature_512": ("faceplugin_fr_feature_512.onnx", "RGB", [127.5] * 3, [128.0] * 3),
}
LIVENESS = [("minifasnet_v2_2.7_80x80.onnx", 2.7), ("minifasnet_v1se_4.0_80x80.onnx", 4.0)]
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class Pipeline:
    def __init__(self, models, recognizer):
        self.detector = session(os.path.join(models, "face_detection_yunet_2023mar.onnx"))
        file, self.channels, mean, std = RECOGNIZERS[recognizer]
        self.recognizer = session(os.path.join(models, file))
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        self.liveness = [(session(os.path.join(models, f)), scale) for f, scale in LIVENESS]

    def detect(self, bgr, threshold=0.6, nms_iou=0.3):
        h, w = bgr.shape[:2]
        scale = 640.0 / max(w, h)
        sw, sh = min(640, max(1, round(w * scale))), min(640, max(1, round(h * scale)))
        canvas = np.zeros((640, 640, 3), dtype=np.uint8)
        canvas[:sh, :sw] = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_LINEAR)
        blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        outputs = dict(zip([o.name for o in self.detector.get_outputs()], self.detector.run(None, {self.detector.get_inputs()[0].name: blob})))
        faces = []
        for stride in (8, 16, 32):
            cols = 640 // stride
            cls = outputs[f"cls_{stride}"].reshape(-1)
            obj = outputs[f"obj_{stride}"].reshape(-1)
            bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)
            kps = outputs[f"kps_{stride}"].reshape(-1, 10)
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            for cell in np.nonzero(score >= threshold)[0]:
                row, col = divmod(int(cell), cols)
                cx, cy = (col + bbox[cell, 0]) * stride, (row + bbox[cell, 1]) * stride
                bw, bh = np.exp(bbox[cell, 2]) * stride, np.exp(bbox[cell, 3]) * stride
                marks = np.array([[(kps[cell, 2 * i] + col) * stride, (kps[cell, 2 * i + 1] + row) * stride] for i in range(5)])
                faces.append((float(score[cell]), np.array([cx - bw / 2, cy - bh / 2, bw, bh]) / scale, marks / scale))
        faces.sort(key=lambda f: -f[0])
        kept = []
        for face in faces:
            if all(iou(face[1], k[1]) <= nms_iou for k in kept):
                kept.append(face)
        return kept

    def align(self, bgr, landmarks):
        matrix = similarity(landmarks.astype(np.float32), TEMPLATE)
        return cv2.warpAffine(bgr, matrix, (112, 112), flags=cv2.INTER_LINEAR, borderValue=0)

    def embed(self, aligned_bgr, flip=False):
        vector = self.raw_embedding(aligned_bgr)
        if flip:
            vector = vector + self.raw_embedding(aligned_bgr[:, ::-1])
        return vector / np.linalg.norm(vector)

    def raw_embedding(self, aligned_bgr):
        pixels = aligned_bgr[:, :, ::-1] if self.channels == "RGB" else aligned_bgr
        blob = ((pixels.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1)[None]
        return self.recognizer.run(None, {self.recognizer.get_inputs()[0].name: np.ascontiguousarray(blob)})[0][0]

    def live_score(self, bgr, box):
        h, w = bgr.shape[:2]
        total = 0.0
        for model, scale in self.liveness:
            left, top, right, bottom = crop_box(w, h, box, scale)
            crop = cv2.resize(bgr[top : bottom + 1, left : right + 1], (80, 80))
            blob = crop.transpose(2, 0, 1)[None].astype(np.float32)
            logits = model.run(None, {model.get_inputs()[0].name: blob})[0][0]
            exp = np.exp(logits - logits.max())
            total += float(exp[1] / exp.sum())
        return total / len(self.liveness)


def iou(a, b):
    ow = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    oh = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ow <= 0 or oh <= 0:
        return 0.0
    return ow * oh / (a[2] * a[3] + b[2] * b[3] - ow * oh)


def similarity(src, dst):
    """Least-squares similarity (Umeyama, no reflection) mapping src onto dst, as a 2x3 matrix."""
    sc, dc = src - src.mean(0), dst - dst.mean(0)
    spread = (sc**2).sum()
    p = (sc * dc).sum() / spread
    q = (sc[:, 0] * dc[:, 1] - sc[:, 1] * dc[:, 0]).sum() / spread
    rot = np.array([[p, -q], [q, p]], dtype=np.float32)
    t = dst.mean(0) - rot @ src.mean(0)
    return np.hstack([rot, t[:, None]]).astype(np.float32)


def crop_box(w, h, box, scale):
    """Silent-Face-Anti-Spoofing's CropImage._get_new_box."""
    x, y, bw, bh = box
    scale = min((h - 1) / bh, (w - 1) / bw, scale)
    nw, nh = bw * scale, bh * scale
    cx, cy = x + bw / 2, y + bh / 2
    l, t, r, b = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
    if l < 0:
        r -= l
        l = 0
    if t < 0:
        b -= t
        t = 0
    if r > w - 1:
        l -= r - w + 1
        r = w - 1
    if b > h - 1:
        t -= b - h + 1
        b = h - 1
    return max(0, int(l)), max(0, int(t)), int(r), int(b)


def bench(args):
    cv2.setNumThreads(1)
    pipeline = Pipeline(args.models, args.recognizer)
    files = [line.strip() for line in open(args.images) if line.strip()]
    encoded = [open(f, "rb").read() for f in files]
    stages = {name: [] for name in ("decode", "detect", "align", "liveness", "embed", "capture")}
    # One untimed round first, then --repeat timed ones: the same warm-up facepay's bench gives itself.
    for round_number in range(args.repeat + 1):
        for data in encoded:
            t0 = time.perf_counter()
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            t1 = time.perf_counter()
            faces = pipeline.detect(bgr)
            t2 = time.perf_counter()
            face = max(faces, key=lambda f: f[1][2] * f[1][3])
            aligned = pipeline.align(bgr, face[2])
            t3 = time.perf_counter()
            pipeline.live_score(bgr, face[1])
            t4 = time.perf_counter()
            pipeline.embed(aligned, args.flip)
            t5 = time.perf_counter()
            if round_number == 0:
                continue
            for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t1)):
                stages[name].append(seconds * 1000.0)
    report = {name: {"median_ms": statistics.median(v), "p95_ms": percentile(v, 0.95)} for name, v in stages.items()}
    report["onnxruntime"] = ort.__version__
    report["opencv"] = cv2.__version__
    json.dump(report, open(args.json, "w"), indent=2)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def lfw(args):
    cv2.setNumThreads(1)
    pipeline = Pipeline(args.models, args.recognizer)
    lines = [l.split() for l in open(args.pairs) if l.strip()]
    folds, per_class = int(lines[0][0]), int(lines[0][1])
    cache = {}

    def template(name, number):
        key = (name, number)
        if key not in cache:
            bgr = cv2.imread(os.path.join(args.images, name, f"{name}_{number:04d}.jpg"))
            faces = pipeline.detect(bgr)
            if not faces:
                cache[key] = None
            else:
                cx, cy = bgr.shape[1] / 2, bgr.shape[0] / 2
                face = min(faces, key=lambda f: np.hypot(f[1][0] + f[1][2] / 2 - cx, f[1][1] + f[1][3] / 2 - cy))
                cache[key] = pipeline.embed(pipeline.align(bgr, face[2]), args.flip)
        return cache[key]

    scored = []
    for index, fields in enumerate(lines[1:]):
        same = len(fields) == 3
        a = template(fields[0], int(fields[1]))
        b = template(fields[0], int(fields[2])) if same else template(fields[2], int(fields[3]))
        score = float(a @ b) if a is not None and b is not None else -1e9
        scored.append((index // (2 * per_class), score, same))
    accuracies = []
    for fold in range(folds):
        train = sorted((s, same) for f, s, same in scored if f != fold)
        best, best_right = -1e9, -1
        for threshold in [train[0][0] - 1e-6] + [(train[i][0] + train[i + 1][0]) / 2 for i in range(len(train) - 1)]:
            right = sum((s > threshold) == same for s, same in train)
            if right > best_right:
                best, best_right = threshold, right
        test = [(s, same) for f, s, same in scored if f == fold]
        accuracies.append(sum((s > best) == same for s, same in test) / len(test))
    print(json.dumps({"recognizer": args.recognizer, "accuracy": statistics.mean(accuracies), "accuracy_std": statistics.pstdev(accuracies), "no_face": sum(v is None for v in cache.values())}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["bench", "lfw"])
    parser.add_argument("--models", required=True)
    parser.add_argument("--recognizer", default="mobilefacenet_128", choices=sorted(RECOGNIZERS))
    parser.add_argument("--images", required=True)
    parser.add_argument("--pairs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json")
    parser.add_argument("--flip", action="store_true", help="also embed the mirrored face and sum")
    args = parser.parse_args()
    bench(args) if args.mode == "bench" else lfw(args)


if __name__ == "__main__":
    sys.exit(main())
