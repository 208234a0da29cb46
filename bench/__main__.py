"""python -m bench exports [--quick] | pgwire [--rows=N] | flight [--rows=N]"""

import sys


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks: exports, pgwire, flight")
        return
    if args[0] == "child":  # an export as `egress export` runs it, process settings included
        from gateway.main import process_defaults

        process_defaults(serving=False)
        from bench.exports import child_main

        child_main(args[1:])
        return
    if args[0] == "pgwire":
        from bench.pgwire import main as pgwire

        pgwire(args[1:])
        return
    if args[0] == "flight":
        from bench.flight import main as flight

        flight(args[1:])
        return
    if args[0] == "exports":
        from bench.exports import main as exports

        exports(args[1:])
        return
    sys.exit(f"unknown benchmark {args[0]!r}; try: exports, pgwire, flight")


main()
