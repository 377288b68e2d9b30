import sys

print(__name__, sys.argv[1:], __file__.endswith("mymod.py"))
