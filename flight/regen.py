"""Regenerate (or check) the Python classes of the Flight SQL protocol.

    python -m flight.regen          # rewrite flight/protocol/*_pb2.py from flight/proto/*.proto
    python -m flight.regen --check  # exit 1 if the committed modules differ from a fresh build

grpcio-tools 1.62.x is pinned on purpose: its output runs on protobuf 4.25 through 7.x, while
newer grpcio-tools emits code that demands an equally new protobuf runtime.
"""

from __future__ import annotations

import difflib
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTOS = ("FlightSql.proto", "EgressFlightAdditions.proto")
REQUIRED = "1.62."


def generate(out: Path) -> list[Path]:
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError:
        raise SystemExit("flight.regen needs grpcio-tools 1.62.x: pip install 'grpcio-tools>=1.62,<1.63'")
    from importlib.metadata import version

    found = version("grpcio-tools")
    if not found.startswith(REQUIRED):
        raise SystemExit(f"flight.regen needs grpcio-tools {REQUIRED}x (found {found}); "
                         "pip install 'grpcio-tools>=1.62,<1.63'")
    include = Path(grpc_tools.__file__).parent / "_proto"
    made = []
    for name in PROTOS:
        code = protoc.main(["protoc", f"-I{HERE / 'proto'}", f"-I{include}", f"--python_out={out}",
                            str(HERE / "proto" / name)])
        if code != 0:
            raise SystemExit(f"protoc failed on {name} (exit {code})")
        made.append(out / name.replace(".proto", "_pb2.py"))
    return made


def main(argv: list[str]) -> int:
    check = "--check" in argv
    target = HERE / "protocol"
    with tempfile.TemporaryDirectory() as tmp:
        differ = False
        for fresh in generate(Path(tmp)):
            committed = target / fresh.name
            new = fresh.read_text()
            old = committed.read_text() if committed.exists() else ""
            if new == old:
                continue
            differ = True
            if check:
                sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                           str(committed), f"fresh {fresh.name}"))
            else:
                committed.write_text(new)
                print(f"wrote {committed.relative_to(HERE.parent)}")
        if check:
            print("flight/protocol is up to date" if not differ else "flight/protocol differs from the .proto files")
            return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
