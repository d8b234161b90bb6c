"""`cnr ...` / `python -m cnr ...`: thin argparse front-ends; each command resolves its Run once, here."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from cnr.environment import check_environment
from cnr.errors import CnrError
from cnr.parsing import argtype, nonnegative_float, nonnegative_int, parse_seed, positive_int


def _run(args: argparse.Namespace, **kw):
    """The command's Run: --profile, every --set path=value, --seed and --device, resolved once."""
    from cnr.config import parse_override
    from cnr.errors import InputError
    from cnr.run import Run, resolve_run

    if getattr(args, "out", None) == "":
        raise InputError("--out is empty; give a file or folder path")

    if getattr(args, "run_json", None):
        try:
            text = Path(args.run_json).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = getattr(e, "strerror", None) or e
            raise InputError(f"--run-json {args.run_json} cannot be read ({reason})") from None
        return Run.from_json(text)
    overrides = dict(parse_override(item) for item in args.set or [])
    return resolve_run(args.profile, overrides, seed=args.seed, device=args.device, **kw)


def _shipped_guard(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """Writes into the shipped weights allowed only with --overwrite-shipped (they are inputs, not outputs)."""
    from cnr.paths import shipped_writes_allowed

    return shipped_writes_allowed() if args.overwrite_shipped else contextlib.nullcontext()


def _cmd_info(args: argparse.Namespace) -> int:
    from cnr.info import environment_report

    print(environment_report(_run(args)))
    return 0


def _cmd_accuracy(args: argparse.Namespace) -> int:
    from cnr.eval.accuracy import clean_accuracy

    print(clean_accuracy(_run(args), args.classifier, args.dataset, args.limit, args.batch_size))
    return 0


def _cmd_train_classifier(args: argparse.Namespace) -> int:
    from cnr.checks import check_writable
    from cnr.classifiers.train_fmnist import train_fmnist_cnn

    run = _run(args)
    p = run.profile
    out = Path(args.out) if args.out is not None else run.models_dir / "fmnist-cnn.safetensors"
    with _shipped_guard(args):
        check_writable(out.parent)
        meta = train_fmnist_cnn(
            out_path=out, epochs=args.epochs or p.clf.epochs, batch_size=p.clf.batch, seed=p.seed,
            train_limit=p.clf.train_limit, eval_limit=p.clf.eval_limit, device=run.device,
            command=f"cnr train-classifier --profile {p.name}{run.cli_options()} --out {out}",
        )
    print(f"test accuracy {meta['test_accuracy']:.4f} (n={meta['test_n']}), trained in {meta['train_seconds']:.0f} s"
          f" -> {out}")
    return 0


def _cmd_grid(args: argparse.Namespace) -> int:
    from cnr.grid import run_grid
    from cnr.reporting.tables import summary_table

    if args.cluster or args.jobs or args.job:
        return _submit_grid(args)
    run = _run(args)
    df = run_grid(run, shard=args.shard, resume=not args.no_resume, workers=args.workers)
    if args.summary and not df.empty:
        print(summary_table(df).to_string(index=False))
    return 0


def _submit_grid(args: argparse.Namespace) -> int:
    from cnr.cluster import cluster_config, job_device, jobs_dir, submit_grid

    clash = [flag for flag in ("shard", "workers", "no_resume", "run_json") if getattr(args, flag)]
    config = cluster_config(args.cluster, args.jobs, args.job or (), clash=clash)
    requested, args.device = args.device, "cpu"  # the jobs resolve their device on their node, not here
    run = _run(args)
    jobs = submit_grid(run, config, job_device(requested, run.profile.device, config))
    print(f"grid ({run.name}): {len(jobs)} job(s) submitted to {config.engine} (logs in {jobs_dir(run)}); "
          f"`cnr collect --profile {run.profile.name}{run.cli_options()}` merges and says what is missing"
          if jobs else f"grid ({run.name}): every cell is done; nothing submitted")
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from cnr.cluster import collect, describe

    _, report = collect(_run(args))
    print(describe(report))
    return 0 if not any(s.missing for s in report) else 1


def _cmd_attack(args: argparse.Namespace) -> int:
    from cnr.cells.groups import attack_spec
    from cnr.cells.specs import Cell
    from cnr.data import check_sample_size
    from cnr.defenses import defense_by_name
    from cnr.eval.preview import run_previewed

    run = _run(args)
    if args.n_images:
        check_sample_size(run.profile.data.dataset, args.n_images, "--n-images")
    attack = attack_spec(run.profile, args.attack, args.group, args.norm, args.budget, args.view, args.param)
    cell = Cell(defense_by_name(run.profile, args.defense), attack)
    origin = (f"group {attack.label}, as the grid runs it" if args.group
              else f"the profile's settings of {attack.attack}")
    row = run_previewed(run, cell, args.n_images or run.profile.sample_sizes()[attack.sample], origin)
    for k, v in row.items():
        print(f"{k:>20}: {v}")
    return 0


def _cmd_sanity(args: argparse.Namespace) -> int:
    from cnr.analysis.sanity import exit_status, report_lines, run_sanity
    from cnr.eval.merge import load_table

    run = _run(args)
    df = load_table(run.robustness_csv)
    if df.empty:
        raise CnrError(f"no results in {run.robustness_csv}: run `cnr grid --profile {run.profile.name}` first")
    report = run_sanity(run, df)
    print("\n".join(report_lines(report)))
    return exit_status(report)


def _cmd_train_argan(args: argparse.Namespace) -> int:
    from cnr.checks import check_writable
    from cnr.training import train_argan_cli

    run = _run(args)
    with _shipped_guard(args):
        check_writable(args.out if args.out is not None else run.models_dir)
        summary = train_argan_cli(run, args.dataset, args.qf, preset=args.preset, out=args.out, steps=args.steps,
                                  gan_steps=args.gan_steps)
    for qf, val in summary.items():
        print(f"{args.dataset} QF {qf}: validation {val}")
    return 0


def _cmd_restoration_table(args: argparse.Namespace) -> int:
    from cnr.checks import check_writable
    from cnr.paths import relative
    from cnr.studies.restoration import write_restoration_table

    run = _run(args)
    check_writable(run.tables_dir)
    df = write_restoration_table(run)
    cols = ["dataset", "generator", "qf", "n", "psnr_jpeg", "psnr_restored", "ssim_jpeg", "ssim_restored"]
    cols += [c for c in ("acc_jpeg", "acc_restored") if c in df]
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"written to {relative(run.restoration_csv)} (+ .md, .tex)")
    losers = df[~df["restored_wins"]]
    if len(losers):
        print(f"restored does NOT beat JPEG in PSNR for: {losers[['dataset', 'generator', 'qf']].to_dict('records')}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from cnr.analysis.compare import compare_tables, verdict
    from cnr.errors import InputError

    if len(args.tables) > 2:
        raise InputError(f"compare takes one or two tables, got {len(args.tables)}: {' '.join(args.tables)}")
    reference, candidate = args.tables if len(args.tables) == 2 else (_run(args).robustness_csv, args.tables[0])
    df = compare_tables(reference, candidate, alpha=args.alpha)
    if args.rows:
        print(df.to_string(index=False))
    line = verdict(df)
    print(line)
    return 0 if df["agree"].fillna(False).all() else 1


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from cnr.reproduce import reproduce

    reproduce(_run(args, retrain=args.retrain), start=args.start, log_output=args.verbose, fresh=args.fresh)
    return 0


def _run_options(p: argparse.ArgumentParser, device: str | None = None) -> None:
    """--profile, --set, --seed, --device: what every command resolves into one Run."""
    from cnr.config import PROFILES

    p.add_argument("--profile", default="quick", choices=list(PROFILES))
    p.add_argument("--set", action="append", metavar="PATH=VALUE",
                   help="override a profile setting (repeatable), e.g. --set samples.eval=100 or "
                        "--set attacks.pgd.steps=40; recorded in the results")
    p.add_argument("--seed", type=argtype(parse_seed), default=None, help="default: the profile's")
    p.add_argument("--device", default=device, help="cpu, cuda or auto (default: the profile's)")


def build_parser() -> argparse.ArgumentParser:
    """All subcommands; each maps to one function of the package."""
    parser = argparse.ArgumentParser(prog="cnr", description="(Compress and Restore)^N reproducibility kit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="versions, device, and every data set, package, weight file and cache the "
                                    "profiles read, found or missing, with the command that installs each")
    _run_options(p)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("accuracy", help="clean accuracy of a classifier on a dataset, with n and a 95%% interval")
    _run_options(p)
    p.add_argument("--classifier", default=None, help="default: the profile's")
    p.add_argument("--dataset", default=None, help="default: the profile's")
    p.add_argument("--limit", type=argtype(positive_int), default=None, help="first N images only")
    p.add_argument("--batch-size", type=argtype(positive_int), default=500)
    p.set_defaults(func=_cmd_accuracy)

    p = sub.add_parser("train-classifier", help="train fmnist-cnn (resumes from its checkpoint)")
    _run_options(p)
    p.add_argument("--epochs", type=argtype(positive_int), default=None)
    p.add_argument("--out", default=None, help="weights path (default: results/<run>/models/fmnist-cnn.safetensors;"
                                               " never the shipped cnr/shipped/)")
    p.add_argument("--overwrite-shipped", action="store_true", help="allow --out to replace shipped weights")
    p.set_defaults(func=_cmd_train_classifier)

    p = sub.add_parser("grid", help="run a profile's attack grid into results/<run>/tables/robustness.csv")
    _run_options(p)
    p.add_argument("--shard", default=None, help="i/k: run every k-th cell from the i-th (1-based)")
    p.add_argument("--no-resume", action="store_true", help="recompute rows already in the table")
    p.add_argument("--workers", type=argtype(positive_int), default=None,
                   help="local processes of one thread each, splitting the grid (default: the profile's)")
    p.add_argument("--summary", action="store_true", help="print the accuracy table at the end")
    p.add_argument("--run-json", default=None, help=argparse.SUPPRESS)  # how grid workers receive their run
    p.add_argument("--cluster", default=None, choices=["slurm", "local"], help="submit the grid as a job array")
    p.add_argument("--jobs", type=argtype(positive_int), default=None, help="with --cluster: shards, one job each")
    p.add_argument("--job", action="append", metavar="KEY=VALUE",
                   help="with --cluster, per job (repeatable): partition, account, gpus, cpus, mem_gb, timeout_min, "
                        "parallel")
    p.set_defaults(func=_cmd_grid)

    p = sub.add_parser("collect", help="merge a grid's shards and say which cells are missing and which jobs failed")
    _run_options(p)
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("attack", help="one cell: an attack on a defense, scored over fresh draws")
    _run_options(p)
    p.add_argument("--defense", default="dynamic-N3",
                   help="a grid defense (none, jpeg, static-N<k>, dynamic-N<k>, ...)")
    p.add_argument("--attack", default=None, help="an attack (default pgd), with the profile's settings for it")
    p.add_argument("--group", default=None, help="a cell group of the grid (e.g. eot-bpda-pgd): its attack, "
                                                 "gradient view and parameters, exactly as the grid runs them")
    p.add_argument("--norm", default="linf", choices=["linf", "l2"])
    p.add_argument("--budget", type=argtype(nonnegative_float, finite=False), default=0.1, help="inf: unbounded")
    p.add_argument("--view", default=None, help="bpda (default), surrogate, identity, oblivious, expected, "
                                                "transfer-static (default with --group: the group's)")
    p.add_argument("--n-images", type=argtype(positive_int), default=None)
    p.add_argument("--param", action="append", help="attack parameter name=value (repeatable)")
    p.set_defaults(func=_cmd_attack)

    p = sub.add_parser("sanity", help="Carlini et al.'s sanity checks on a run's results")
    _run_options(p)
    p.set_defaults(func=_cmd_sanity)

    p = sub.add_parser("reproduce", help="run the notebooks in order with Papermill")
    _run_options(p)
    p.add_argument("--from", dest="start", default=None, help="start at the notebook with this prefix, e.g. 03")
    p.add_argument("--retrain", action="store_true", help="retrain the classifier and AR-GANs instead of reusing")
    p.add_argument("--verbose", action="store_true", help="stream the notebooks' output")
    p.add_argument("--fresh", action="store_true", help="compute every row again: the table there becomes the "
                   "reference (robustness.before.csv); an interrupted fresh run resumes")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("train-argan", help="train AR-GAN generators (one QF, 'static' or 'all'); resumes")
    _run_options(p)
    p.add_argument("--dataset", default="fmnist", choices=["fmnist", "natural"])
    p.add_argument("--qf", default="all", help="a quality factor, 'static', or 'all' (the whole bank)")
    p.add_argument("--preset", default=None, help="generator preset (default: the profile's)")
    p.add_argument("--out", default=None, help="bank folder (default: results/<run>/models/argan-<dataset>-<preset>)")
    p.add_argument("--overwrite-shipped", action="store_true", help="allow --out to replace shipped weights")
    p.add_argument("--steps", type=argtype(positive_int), default=None,
                   help="pixel pre-training steps (default: the profile's)")
    p.add_argument("--gan-steps", type=argtype(nonnegative_int), default=None, help="0: pixel loss only")
    p.set_defaults(func=_cmd_train_argan)

    p = sub.add_parser("compare",
                       help="do two results tables agree row by row, within chance? (a reproducibility check)")
    p.add_argument("tables", nargs="+", metavar="TABLE",
                   help="[reference] candidate: with one table, the reference is the run's own "
                        "(results/<run>/tables/robustness.csv of --profile and --set)")
    _run_options(p)
    p.add_argument("--alpha", type=argtype(nonnegative_float), default=0.05, help="family-wise error rate (Holm)")
    p.add_argument("--rows", action="store_true", help="print every matched row, not only the verdict")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("restoration-table", help="PSNR/SSIM of JPEG vs restored per QF, from the run's banks")
    _run_options(p)
    p.set_defaults(func=_cmd_restoration_table)

    return parser


# Set before torch loads (every command imports it lazily): OpenMP workers that spin while waiting made cells tens
# of times slower whenever another process shared the cores (measured); foolbox's GitPython needs a git executable
# otherwise. A variable the user set wins.
ENVIRONMENT_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "GIT_PYTHON_REFRESH": "quiet"}


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors the kit raises on purpose print one clear line, not a traceback."""
    import os

    for key, value in ENVIRONMENT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    args = build_parser().parse_args(argv)
    try:
        check_environment()  # a bad variable fails here, in one line, before any work
        return int(args.func(args) or 0)
    except CnrError as e:
        print(f"cnr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cnr {args.command}: interrupted (finished work is saved)", file=sys.stderr)
        return 130
