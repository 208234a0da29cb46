"""Generated protobuf classes of Flight SQL (see flight/regen.py; do not edit by hand)."""
