"""Starts a child Python process."""
import subprocess
import sys

result = subprocess.run([sys.executable, "-c", "print('child says hi')"], check=False)
print("parent done", result.returncode)
