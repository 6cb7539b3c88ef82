"""A training script that starts a helper process and then hangs forever."""

import subprocess
import sys
import time

helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(f"helper pid {helper.pid}", flush=True)
while True:
    time.sleep(1)
