import sys

print("args", sys.argv[1:])
print("to stderr", file=sys.stderr)
if sys.argv[1:] == ["boom"]:
    raise ValueError("boom")
raise SystemExit(3)
