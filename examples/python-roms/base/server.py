"""GET / answers with function() of /rom/rom.py, the code of the ROM attached at /rom.

The base image holds no function: each instance gets its code as a ROM
(`--rom image=...,at=/rom` or `--rom dir=...,at=/rom`), so one base serves
many functions and new code needs no rebuild of the base.
"""
import importlib.util
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROM_CODE = "/rom/rom.py"
_module = None


def rom_module():
    """Loads /rom/rom.py on first use; None while no ROM is attached."""
    global _module
    if _module is None and os.path.isfile(ROM_CODE):
        spec = importlib.util.spec_from_file_location("rom", ROM_CODE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _module = module
    return _module


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/":
            self.send_error(404)
            return
        module = rom_module()
        body = (module.function() if module else "No code loaded\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"python-roms: listening on :{port}, code from {ROM_CODE}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
