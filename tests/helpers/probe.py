"""Client loop for namespace tests: an HTTPS GET to HOST:6443 every INTERVAL s for DURATION s.

Writes one line per attempt, "epoch result", where result is the answering control plane's name
or ERR:<exception>. Usage: python probe.py HOST DURATION INTERVAL OUTFILE
"""

import http.client
import ssl
import sys
import time

host, duration, interval, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
end = time.time() + duration
with open(out, "w") as f:
    while time.time() < end:
        start = time.time()
        try:
            connection = http.client.HTTPSConnection(host, 6443, timeout=1.5, context=context)
            connection.request("GET", "/")
            result = connection.getresponse().read().decode() or "ERR:empty"
            connection.close()
        except Exception as e:  # every failure is a data point
            result = "ERR:" + type(e).__name__
        f.write(f"{start:.3f} {result}\n")
        f.flush()
        time.sleep(interval)
