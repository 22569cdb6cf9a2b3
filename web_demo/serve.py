"""Serves the web demo with an export folder on 127.0.0.1.

  python3 web_demo/serve.py --export=runs/hne_fashion_mnist_tflite [--port=8000] [--samples=DIR]

URL layout (all static; inference runs in the browser):

  /                             web_demo/ (index.html, app.js, engine.js, style.css)
  /node_modules/@litertjs/...   LiteRT.js and its WASM files, from web_demo/node_modules
  /export/...                   the export folder (manifest.json, .tflite files)
  /samples/...                  sample PNGs and samples.json

``--samples`` defaults to ``<export>/samples``; if that folder has no
``samples.json``, the first 12 test images are written there with
``hne_tf.export.samples`` (which reads the test split the manifest names).
``--port=0`` picks a free port. The page URL is printed on one line:
``serving <url>``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import posixpath
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LITERT = os.path.join(HERE, "node_modules", "@litertjs")
PAGE_FILES = {"index.html", "app.js", "engine.js", "tflite_batch.js", "style.css", "screenshot.png"}
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
         ".html": "text/html; charset=utf-8", ".css": "text/css", ".png": "image/png",
         ".tflite": "application/octet-stream", ".map": "application/json"}


class DemoError(Exception):
    """A problem with the command line or the folders it names."""


def resolve_export(path: str) -> str:
    """The export folder for ``--export`` (a folder or its manifest.json)."""
    if os.path.isfile(path) and os.path.basename(path) == "manifest.json":
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise DemoError(f"--export: {path} is not a folder (export a model first: python3 -m export --overwrite)")
    if not os.path.isfile(os.path.join(path, "manifest.json")):
        raise DemoError(f"--export: {path} has no manifest.json (export a model first: python3 -m export --overwrite)")
    return os.path.abspath(path)


def check_litert() -> None:
    if not os.path.isfile(os.path.join(LITERT, "core", "dist", "index.js")):
        raise DemoError(f"{LITERT}/core is missing: run `bash scripts/setup.sh` (or `npm ci` in web_demo/)")


def ensure_samples(export_dir: str, samples_dir: str, num: int = 12) -> None:
    """Writes ``num`` raw test images with ``hne_tf.export.samples`` unless ``samples_dir`` has them."""
    if os.path.isfile(os.path.join(samples_dir, "samples.json")):
        return
    sys.path.insert(0, ROOT)
    from hne_tf.export import manifest as mf
    from hne_tf.export.samples import write_samples

    try:
        with open(os.path.join(export_dir, "manifest.json")) as f:
            manifest = json.load(f)
        mf.validate(manifest, check_files=False)
        write_samples(manifest, samples_dir, num)
    except Exception as e:  # the page still works with the user's own images
        print(f"serve: no bundled sample images ({type(e).__name__}: {e}); the page takes dropped images",
              file=sys.stderr)
        return
    print(f"serve: wrote {num} sample images to {samples_dir}")


class Handler(http.server.SimpleHTTPRequestHandler):
    """Maps the URL layout above to folders; nothing else is served."""

    def __init__(self, *args, export_dir: str, samples_dir: str, **kwargs) -> None:
        self.mounts = {"export": export_dir, "samples": samples_dir, "node_modules/@litertjs": LITERT}
        super().__init__(*args, directory=HERE, **kwargs)

    def translate_path(self, path: str) -> str:
        path = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(path).path)).lstrip("/")
        if path in ("", "."):
            return os.path.join(HERE, "index.html")
        for prefix, folder in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                rest = path[len(prefix):].lstrip("/")  # normpath of an absolute path leaves no '..'
                return os.path.join(folder, *rest.split("/")) if rest else folder
        return os.path.join(HERE, path) if path in PAGE_FILES else ""

    def guess_type(self, path: str) -> str:
        return TYPES.get(os.path.splitext(path)[1], super().guess_type(path))

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        # Not needed by the non-threaded WASM; cross-origin isolation only makes
        # performance.now() finer (5 us instead of 100 us) for the step timings.
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def list_directory(self, path: str) -> None:
        self.send_error(404, "no directory listings")
        return None

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


def make_server(export_dir: str, samples_dir: str, port: int = 8000, host: str = "127.0.0.1",
                verbose: bool = False) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(Handler, export_dir=export_dir, samples_dir=samples_dir)
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.verbose = verbose
    return server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="web_demo/serve.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", default=os.path.join("runs", "hne_fashion_mnist_tflite"),
                        help="export folder (or its manifest.json)")
    parser.add_argument("--samples", default=None, help="sample PNGs + samples.json (default: <export>/samples)")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--no_samples", action="store_true", help="do not write sample images if absent")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        check_litert()
        export_dir = resolve_export(args.export)
        samples_dir = os.path.abspath(args.samples or os.path.join(export_dir, "samples"))
        if not args.no_samples:
            ensure_samples(export_dir, samples_dir)
        server = make_server(export_dir, samples_dir, args.port, verbose=args.verbose)
    except (DemoError, OSError) as e:
        print(f"serve: error: {e}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    print(f"serving http://{host}:{port}/  (export {export_dir}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
