"""A short StyleGAN-lite run on a GPU, timed and scored: the GPU half of issue "StyleGAN-lite".

Trains ``tinygan train stylegan --preset gpu --device cuda`` for ``--steps`` steps (its own
recipe: tinygan/models/stylegan.py PRESETS["gpu"]) into ``--out``, then scores ``--n`` samples
of its EMA generator as ``tinygan eval`` does (FID against the MNIST test digits on the frozen
classifier's features, classifier score; 32x32 samples cropped to the centre 28x28).

    python benchmarks/stylegan_short_run.py --out DIR [--steps 600] [--n 5000] [--device cuda]
        [--preset gpu] [--json FILE]

Prints one JSON object: steps, images, training seconds, images/s, fid, classifier_score.
``make gpu-check`` runs it (tools/gpu_check.py); on a CPU use ``--device cpu --preset cpu``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--preset", choices=["cpu", "gpu"], default="gpu")
    ap.add_argument("--json")
    args = ap.parse_args()

    from tinygan.train.evaluate import evaluate_run
    from tinygan.train.stylegan import train_stylegan
    result = train_stylegan("stylegan", out=args.out, preset=args.preset, device=args.device,
                            max_steps=args.steps, progress=False, force=True)
    scores = evaluate_run(args.out, n=args.n, device=args.device)
    report = {"preset": args.preset, "device": args.device, "steps": result["step"],
              "images": result["images"], "seconds": result["seconds"],
              "images_per_s": round(result["images"] / max(result["seconds"], 1e-9), 1),
              "fid": scores["fid"], "classifier_score": scores["classifier_score"],
              "n_samples": scores["n_samples"]}
    print(json.dumps(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
