"""`cnr ...` / `python -m cnr ...`: thin argparse front-ends to functions in the package."""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from cnr.errors import CnrError


def _cmd_info(args: argparse.Namespace) -> int:
    from cnr.info import environment_report

    print(environment_report())
    return 0


def _cmd_accuracy(args: argparse.Namespace) -> int:
    import torch

    from cnr.classifiers import load_classifier, predict
    from cnr.data import load_dataset
    from cnr.stats import format_accuracy

    torch.manual_seed(args.seed)
    x, y = load_dataset(args.dataset, limit=args.limit)
    model = load_classifier(args.classifier, device=args.device)
    t0 = time.perf_counter()
    correct = int((predict(model, x, batch_size=args.batch_size) == y).sum())
    print(f"classifier {args.classifier} on {args.dataset}: accuracy {format_accuracy(correct, len(y))} "
          f"n={len(y)} [{time.perf_counter() - t0:.1f} s]")
    return 0


def _cmd_train_classifier(args: argparse.Namespace) -> int:
    from cnr.classifiers import FMNIST_CNN_WEIGHTS
    from cnr.profiles import get_profile
    from cnr.train_classifier import train_fmnist_cnn

    p = get_profile(args.profile)
    meta = train_fmnist_cnn(
        out_path=args.out or FMNIST_CNN_WEIGHTS, epochs=args.epochs or p.clf_epochs, batch_size=p.clf_batch,
        seed=args.seed, train_limit=p.clf_train_limit, eval_limit=p.clf_eval_limit, device=args.device,
        command="cnr " + shlex.join(sys.argv[1:]),
    )
    print(f"test accuracy {meta['test_accuracy']:.4f} (n={meta['test_n']}), trained in {meta['train_seconds']:.0f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """All subcommands; each maps to one function of the package."""
    parser = argparse.ArgumentParser(prog="cnr", description="(Compress and Restore)^N reproducibility kit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="versions, device, and where datasets and weights were found")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("accuracy", help="clean accuracy of a classifier on a dataset, with n and a 95%% interval")
    p.add_argument("--classifier", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_accuracy)

    p = sub.add_parser("train-classifier", help="train fmnist-cnn (resumes from its checkpoint)")
    p.add_argument("--profile", default="quick")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="weights path (default: the shipped results/quick/models/...)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_train_classifier)

    # --- subcommands of later modules are registered below this line ---
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors the kit raises on purpose print one clear line, not a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CnrError as e:
        print(f"cnr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cnr {args.command}: interrupted (finished work is saved)", file=sys.stderr)
        return 130
