"""Command line: ``python -m conformance fixtures generate|verify`` (regression fixture sets), ``contracts [NAME ...]``
(the contract page, or the entries of the names given), ``report merge`` (several runs' JSON as one report),
``sweep`` (false failures over seeds).

Exit status: 0 on success, 1 when a set fails verification or cannot be generated, when the merged report fails
(as a single run of the whole matrix would) or when a sweep finds a false failure, 2 on a usage error or parts that
cannot be merged.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _split(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m conformance", description="loss conformance suite tools")
    sub = p.add_subparsers(dest="command", required=True)
    fx = sub.add_parser("fixtures", help="regression fixture sets").add_subparsers(dest="action", required=True)
    g = fx.add_parser("generate", help="write a fixture set (from the oracle, or golden from an implementation)",
                      description="Draw cases from the contract strategies with a fixed seed and record the "
                                  "oracle's outputs and VJPs (default), or an implementation's own (--from-impl). "
                                  "Same arguments and library versions give byte-identical files.")
    g.add_argument("--names", nargs="+", action="extend", metavar="NAME",
                   help="contract names (space- or comma-separated; default: all)")
    g.add_argument("--dtype", action="append", metavar="DTYPE",
                   help="dtype(s) of the cases, repeatable or comma-separated (default float32)")
    g.add_argument("--out", default="fixtures-generated", metavar="DIR",
                   help="output directory; a fixture set already there is replaced (default ./fixtures-generated)")
    g.add_argument("--from-impl", metavar="MODULE",
                   help="golden mode: record this implementation's outputs and gradients (dotted module or .py)")
    g.add_argument("--exact", action="store_true", help="golden mode: replay bitwise instead of within a few ulps")
    g.add_argument("--mode", default="eager", choices=("eager", "function", "xla"),
                   help="golden mode: how to call the implementation (default eager)")
    g.add_argument("--validate-with", metavar="MODULE",
                   help="oracle sets: drop (and list in the manifest) drawn cases this known-good implementation "
                        "fails, e.g. conformance.targets.reference for the committed set")
    g.add_argument("--seed", type=int, default=None, help="generator seed (default 0)")
    g.add_argument("--per-name", type=int, default=None, metavar="N",
                   help="drawn cases per name and dtype besides the hazard and divergence cases (default 6)")
    c = sub.add_parser("contracts", help="print the contract page (every name, its call, shapes, formula, divergences)",
                       description="Print the contract page (docs/contracts.md), or the full entry of each NAME.")
    c.add_argument("names", nargs="*", metavar="NAME", help="contract names (default: the whole page)")
    rp = sub.add_parser("report", help="reports from runs' JSON").add_subparsers(dest="action", required=True)
    m = rp.add_parser("merge", help="merge --report-json files (shards, dtypes, modes, frameworks) into one report",
                      description="Merge the --report-json files of one implementation's runs (the shards of "
                                  "--shard=K/N, other dtypes, modes or frameworks; a killed run's partial file) "
                                  "into one report with the verdicts and exit status of a single run. Parts of "
                                  "another suite version, implementation or option set, and missing shards, are "
                                  "refused.")
    m.add_argument("parts", nargs="+", metavar="PART.json", help="the runs' --report-json files")
    m.add_argument("--json", dest="json_out", metavar="OUT.json", help="write the merged JSON here")
    m.add_argument("--html", dest="html_out", metavar="OUT.html",
                   help="write the merged HTML report here (reproducers beside it)")
    from conformance.sweep import add_parser as add_sweep

    add_sweep(sub)
    v = fx.add_parser("verify", help="check a fixture set's schema, sizes and sha256 sums (no values)")
    v.add_argument("dir", metavar="DIR", help="the set's directory ('committed' for the bundled set)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m conformance``."""
    args = _parser().parse_args(argv)
    if args.command == "contracts":
        from conformance.contracts import REGISTRY
        from conformance.reporting.contracts_page import render, render_entry

        unknown = [n for n in args.names if n not in REGISTRY]
        if unknown:
            print(f"error: unknown contract name(s) {', '.join(unknown)}; the names are: {', '.join(REGISTRY)}",
                  file=sys.stderr)
            return 2
        print("\n".join(render_entry(n) for n in args.names) if args.names else render(), end="")
        return 0
    if args.command == "report":
        from conformance.reporting.merge import MergeError, merge

        try:
            status, lines = merge(args.parts, args.json_out, args.html_out)
        except MergeError as exc:
            print(f"error: report merge: {exc}", file=sys.stderr)
            return 2
        print("\n".join(lines))
        return status
    if args.command == "sweep":
        from conformance.sweep import main as sweep

        return sweep(args)
    from conformance import regression as rg

    if args.action == "verify":
        root = rg.resolve(args.dir)
        fset, problems = rg.verify(root)
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        if problems:
            print(f"{root}: FAILED ({len(problems)} problem(s))", file=sys.stderr)
            return 1
        per_dtype = {}
        for case in fset.cases:
            per_dtype[case.dtype] = per_dtype.get(case.dtype, 0) + 1
        counts = ", ".join(f"{d} {n}" for d, n in per_dtype.items())
        print(f"{root}: OK ({len(fset.cases)} cases: {counts}; schema {rg.SCHEMA_VERSION}, {fset.tolerance} "
              f"tolerance, source {fset.source.get('kind')})")
        return 0
    if args.exact and not args.from_impl:
        print("error: --exact applies to golden sets (--from-impl) only", file=sys.stderr)
        return 2
    try:
        fset = rg.generate(
            args.out, names=_split(args.names), dtypes=_split(args.dtype) or ["float32"],
            seed=rg.DEFAULT_SEED if args.seed is None else args.seed,
            per_name=rg.DEFAULT_PER_NAME if args.per_name is None else args.per_name,
            from_impl=args.from_impl, exact=args.exact, mode=args.mode, validate_with=args.validate_with,
            progress=True,
            log=lambda m: print(m, file=sys.stderr),
        )
    except (rg.FixtureError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = sum((fset.path / c.file).stat().st_size for c in fset.cases)
    if fset.manifest["dropped"]:
        print(f"{len(fset.manifest['dropped'])} drawn case(s) dropped: see 'dropped' in {rg.MANIFEST}",
              file=sys.stderr)
    print(f"wrote {len(fset.cases)} cases ({size / 1e6:.2f} MB, {fset.tolerance} tolerance) to {fset.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
