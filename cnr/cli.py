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

    from cnr.classifiers import CLASSIFIER_INPUT, load_classifier, predict
    from cnr.data import load_dataset
    from cnr.stats import format_accuracy

    torch.manual_seed(args.seed)
    resize = CLASSIFIER_INPUT.get(args.classifier, {}).get("interpolation", "bilinear")  # its evaluation recipe
    x, y = load_dataset(args.dataset, limit=args.limit, interpolation=resize)
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


def _cmd_grid(args: argparse.Namespace) -> int:
    from cnr.figures import summary_table
    from cnr.grid import run_grid

    df = run_grid(args.profile, shard=args.shard, resume=not args.no_resume, workers=args.workers)
    if args.summary and not df.empty:
        print(summary_table(df).to_string(index=False))
    return 0


def _cmd_attack(args: argparse.Namespace) -> int:
    from cnr.evaluate import AttackSpec, Cell, default_defenses
    from cnr.grid import make_evaluator
    from cnr.profiles import get_profile

    p = get_profile(args.profile)
    defenses = {d.name: d for d in default_defenses(p.qf_range, sorted({*p.ns, args.n}))}
    if args.defense not in defenses:
        from cnr.errors import unknown_name

        raise unknown_name("defense", args.defense, defenses)
    params = tuple(sorted(_parse_params(args.param).items()))
    spec = AttackSpec(args.attack, args.attack, args.norm, args.budget, view=args.view, sample="eval", params=params)
    ev = make_evaluator(p)
    if args.n_images:
        ev.sizes = {"eval": args.n_images, "costly": args.n_images}
    row = ev.run_cell(Cell(defenses[args.defense], spec))
    for k, v in row.items():
        print(f"{k:>20}: {v}")
    return 0


def _parse_params(items: list[str]) -> dict:
    import json

    from cnr.errors import InputError

    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--param takes name=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _cmd_sanity(args: argparse.Namespace) -> int:
    from cnr.grid import make_evaluator, robustness_csv
    from cnr.evaluate import read_rows
    from cnr.sanity import sanity_report

    df = read_rows(robustness_csv(args.profile))
    if df.empty:
        from cnr.errors import CnrError

        raise CnrError(f"no results for profile {args.profile!r}: run `cnr grid --profile {args.profile}` first")
    report = sanity_report(df, make_evaluator(args.profile), args.profile)
    print(report.to_string(index=False))
    return 0 if report["passed"].all() else 1


def _cmd_train_argan(args: argparse.Namespace) -> int:
    from cnr.argan.pipeline import train_argan_cli

    summary = train_argan_cli(args.dataset, args.qf, preset=args.preset, profile=args.profile, out=args.out,
                              device=args.device, seed=args.seed, steps=args.steps, gan_steps=args.gan_steps)
    for qf, val in summary.items():
        print(f"{args.dataset} QF {qf}: validation {val}")
    return 0


def _cmd_restoration_table(args: argparse.Namespace) -> int:
    from cnr.restoration import restoration_csv, write_restoration_table

    df = write_restoration_table(args.profile, device=args.device)
    cols = ["dataset", "generator", "qf", "n", "psnr_jpeg", "psnr_restored", "ssim_jpeg", "ssim_restored"]
    cols += [c for c in ("acc_jpeg", "acc_restored") if c in df]
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"written to {restoration_csv(args.profile)} (+ .md, .tex)")
    losers = df[~df["restored_wins"]]
    if len(losers):
        print(f"restored does NOT beat JPEG in PSNR for: {losers[['dataset', 'generator', 'qf']].to_dict('records')}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from cnr.reproduce import reproduce

    reproduce(args.profile, start=args.start, retrain=args.retrain, log_output=args.verbose)
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

    p = sub.add_parser("grid", help="run a profile's attack grid into results/<profile>/tables/robustness.csv")
    p.add_argument("--profile", default="quick")
    p.add_argument("--shard", default=None, help="i/k: run every k-th cell from the i-th (1-based)")
    p.add_argument("--no-resume", action="store_true", help="recompute rows already in the table")
    p.add_argument("--workers", type=int, default=None,
                   help="local processes of one thread each, splitting the grid (default: the profile's)")
    p.add_argument("--summary", action="store_true", help="print the accuracy table at the end")
    p.set_defaults(func=_cmd_grid)

    p = sub.add_parser("attack", help="one cell: an attack on a defense, scored over fresh draws")
    p.add_argument("--profile", default="quick")
    p.add_argument("--defense", default="dynamic-N3", help="none, jpeg, static-N<k>, dynamic-N<k>")
    p.add_argument("--n", type=int, default=3, help="N for a static-N/dynamic-N defense not in the profile")
    p.add_argument("--attack", default="pgd")
    p.add_argument("--norm", default="linf", choices=["linf", "l2"])
    p.add_argument("--budget", type=float, default=0.1)
    p.add_argument("--view", default="bpda", choices=["bpda", "surrogate", "identity", "oblivious"])
    p.add_argument("--n-images", type=int, default=None)
    p.add_argument("--param", action="append", help="attack parameter name=value (repeatable)")
    p.set_defaults(func=_cmd_attack)

    p = sub.add_parser("sanity", help="Carlini et al.'s sanity checks on a profile's results")
    p.add_argument("--profile", default="quick")
    p.set_defaults(func=_cmd_sanity)

    p = sub.add_parser("reproduce", help="run the notebooks in order with Papermill")
    p.add_argument("--profile", default="quick", choices=["smoke", "quick", "full", "paper"])
    p.add_argument("--from", dest="start", default=None, help="start at the notebook with this prefix, e.g. 03")
    p.add_argument("--retrain", action="store_true", help="retrain the classifier and AR-GANs instead of reusing")
    p.add_argument("--verbose", action="store_true", help="stream the notebooks' output")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("train-argan", help="train AR-GAN generators (one QF, 'static' or 'all'); resumes")
    p.add_argument("--dataset", default="fmnist", choices=["fmnist", "natural"])
    p.add_argument("--qf", default="all", help="a quality factor, 'static', or 'all' (the whole bank)")
    p.add_argument("--preset", default=None, help="generator preset (default: the profile's)")
    p.add_argument("--profile", default="quick")
    p.add_argument("--out", default=None, help="bank folder (default: the profile's models folder)")
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="pixel pre-training steps (default: the profile's)")
    p.add_argument("--gan-steps", type=int, default=None)
    p.set_defaults(func=_cmd_train_argan)

    p = sub.add_parser("restoration-table", help="PSNR/SSIM of JPEG vs restored per QF, from the shipped banks")
    p.add_argument("--profile", default="quick")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_restoration_table)

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
