"""Run by test_standalone_install.py with the python of a fresh venv holding only `pip install ./clients/python`:
cast a face, submit a photo to the running `facecast serve` at $FACECAST_URL, and verify the signed
`job.succeeded` webhook with the SDK. Prints one JSON line with what it saw. Standard library + facecast only."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import facecast
from facecast import FaceCast, WebhookVerificationError, verify_webhook

photo = sys.argv[1]
received = []
arrived = threading.Condition()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with arrived:
            received.append((dict(self.headers.items()), body))
            arrived.notify_all()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook_url = f"http://127.0.0.1:{server.server_address[1]}/hooks"

with FaceCast() as fc:  # $FACECAST_API_KEY and $FACECAST_URL
    endpoint = fc.create_webhook_endpoint(hook_url, events=["job.succeeded", "job.failed"])
    casting = fc.wait_casting(fc.create_casting(n=1, engine="demo", seed=11)["id"], timeout=240)
    model = fc.accept_candidate(casting["id"], 0, "standalone")
    [job] = fc.create_jobs(photo, model=model["id"], steps="swap")
    [done] = fc.wait([job], timeout=240, progress=False)

with arrived:
    arrived.wait_for(lambda: any(job["id"].encode() in body for _, body in received), timeout=120)
headers, body = next((h, b) for h, b in received if job["id"].encode() in b)
event = verify_webhook(endpoint["secret"], headers, body)
try:
    verify_webhook(endpoint["secret"], headers, body + b" ")
    tampered = "accepted"
except WebhookVerificationError:
    tampered = "refused"
server.shutdown()
print(json.dumps({"facecast_file": facecast.__file__, "job_status": done["status"], "event_type": event["type"],
                  "event_job": event["data"]["id"], "tampered": tampered,
                  "heavy_modules": sorted(m for m in ("torch", "cv2", "mediapipe", "numpy", "sqlalchemy", "fastapi")
                                          if m in sys.modules)}))
