import os
import subprocess
import sys

child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child.py")
proc = subprocess.run([sys.executable, child, "from-parent"], capture_output=True, text=True)
print("child said", proc.stdout.strip(), "exit", proc.returncode)
