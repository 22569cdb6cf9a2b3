"""Serves the web demo and one export on 127.0.0.1: the page's files and the files the manifest names, nothing else.

  python3 web_demo/serve.py --export=runs/hne_fashion_mnist_tflite [--port=8000] [--samples=DIR]

URL layout (static files; inference runs in the browser):

  /, /index.html, /app.js, ...   the page's own files (PAGE_FILES)
  /manifest.schema.json          the manifest contract's schema (hne_tf/export/manifest.schema.json)
  /node_modules/@litertjs/...    LiteRT.js: its ES modules and WASM builds (LITERT_FILES)
  /export/manifest.json          the export's manifest, and /export/<file> for each file it lists
  /samples/samples.json          sample images and labels, and /samples/<file> for each image it lists

Everything else is 404: directory listings, dotfiles, files the lists above do not name, and any
path that resolves (through a symlink) outside its folder. A path with a NUL byte or bad
percent-encoding is 400. A request whose Host header is not this machine (127.0.0.1, localhost,
[::1] or the bound address) is 403, which keeps DNS-rebinding pages out.

The server writes nothing and does not import TensorFlow. At start it checks the manifest with
export/manifest.py (sizes and sha256 of its files included); an invalid manifest is a one-line
error and exit status 2. Sample images come from --samples=DIR (a folder written by
``python3 -m export.samples --out=DIR``), else from web_demo/samples/<dataset>/ when the page
ships images of the manifest's data set; without them the page takes the user's own images.
``--port=0`` picks a free port. The page URL is printed on one line: ``serving <url>``.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LITERT = os.path.join(HERE, "node_modules", "@litertjs")
SHIPPED_SAMPLES = os.path.join(HERE, "samples")
PAGE_FILES = ("index.html", "app.js", "engine.js", "plot.js", "tflite_batch.js", "style.css")
# The manifest contract's structure, which the page validates the manifest against: the package's one copy.
SCHEMA_FILE = os.path.join(ROOT, "hne_tf", "export", "manifest.schema.json")
# LiteRT.js: the ES modules the import map names and every WASM build (the loader picks one).
LITERT_FILES = ("core/dist/index.js", "wasm-utils/dist/index.js")
LITERT_WASM = "core/wasm"
MAX_JSON_BYTES = 16 << 20  # a manifest or samples.json larger than this is refused unread
TYPES = {".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
         ".html": "text/html; charset=utf-8", ".css": "text/css", ".png": "image/png",
         ".tflite": "application/octet-stream"}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class DemoError(Exception):
    """A problem with the command line, the export or the samples: shown as one line."""


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
    if not os.path.isfile(os.path.join(LITERT, *LITERT_FILES[0].split("/"))):
        raise DemoError(f"{LITERT}/core is missing: run `bash scripts/setup.sh` (or `npm ci` in web_demo/)")


def read_json(path: str, what: str) -> object:
    """A JSON file, its size bounded before reading; any problem is a DemoError of one line."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        raise DemoError(f"{what}: {path} cannot be read ({e.strerror or e})") from None
    if len(data) > MAX_JSON_BYTES:
        raise DemoError(f"{what}: {path} is larger than {MAX_JSON_BYTES >> 20} MiB")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise DemoError(f"{what}: {path} is not UTF-8 text") from None
    except RecursionError:
        raise DemoError(f"{what}: {path} is nested too deeply to be a {what}") from None
    except ValueError as e:
        raise DemoError(f"{what}: {path} is not valid JSON ({e})") from None


def load_manifest(export_dir: str, check_files: bool = True) -> dict:
    """The export's manifest, validated by export/manifest.py (with ``check_files``: every listed file's
    size, sha256 and signatures). Raises DemoError with the problems on one line."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from hne_tf.export import manifest as mf  # no TensorFlow: json, hashlib and the flatbuffer schema

    manifest = read_json(os.path.join(export_dir, "manifest.json"), "manifest")
    try:
        mf.validate(manifest, export_dir, check_files=check_files)
    except mf.ManifestError as e:
        raise DemoError(f"{os.path.join(export_dir, 'manifest.json')} is not a valid manifest: "
                        f"{' '.join(str(e).split())}") from None
    return manifest


def manifest_file_names(manifest) -> set[str]:
    """manifest.json and the bare file names its ``files`` list (whatever else it holds)."""
    names = {"manifest.json"}
    if isinstance(manifest, dict) and isinstance(manifest.get("files"), list):
        names |= {f["file"] for f in manifest["files"] if isinstance(f, dict) and isinstance(f.get("file"), str)}
    return {n for n in names if _bare(n)}


def _bare(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and "\x00" not in name and not name.startswith(".")


def load_samples(samples_dir: str, manifest: dict) -> list[str]:
    """The image file names that ``samples_dir/samples.json`` lists, after checking that they are images of
    the manifest's data set and input size. Raises DemoError otherwise."""
    listing = read_json(os.path.join(samples_dir, "samples.json"), "samples")
    if not isinstance(listing, dict) or not isinstance(listing.get("samples"), list):
        raise DemoError(f"samples: {samples_dir}/samples.json has no 'samples' list")
    dataset = manifest["model"]["dataset"]
    if listing.get("dataset") != dataset:
        raise DemoError(f"samples: {samples_dir} holds {listing.get('dataset')!r} images, the model was trained "
                        f"on {dataset!r}")
    if listing.get("shape") != list(manifest["input"]["shape"][1:]):
        raise DemoError(f"samples: {samples_dir} images are {listing.get('shape')}, the model takes "
                        f"{manifest['input']['shape'][1:]}")
    names = []
    for i, s in enumerate(listing["samples"]):
        name = s.get("file") if isinstance(s, dict) else None
        label = s.get("label") if isinstance(s, dict) else None
        if not (isinstance(name, str) and _bare(name) and name.endswith(".png")):
            raise DemoError(f"samples: entry {i} of {samples_dir}/samples.json needs a bare .png file name")
        if not (isinstance(label, int) and 0 <= label < manifest["model"]["num_classes"]):
            raise DemoError(f"samples: entry {i} of {samples_dir}/samples.json has label {label!r}")
        names.append(name)
    return names


def default_samples(manifest: dict) -> str | None:
    """The page's own sample folder for the manifest's data set, if it ships one."""
    folder = os.path.join(SHIPPED_SAMPLES, manifest["model"]["dataset"])
    return folder if os.path.isfile(os.path.join(folder, "samples.json")) else None


def _inside(root: str, relative: str) -> str | None:
    """The real path of ``root/relative`` if it is a regular file inside ``root`` (symlinks resolved) and
    no component of it is a dotfile; else None."""
    parts = relative.split("/")
    if any(not p or p.startswith(".") or p in ("..",) or "\x00" in p or "\\" in p for p in parts):
        return None
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, *parts))
    if os.path.commonpath([real_root, real]) != real_root or real == real_root:
        return None
    if any(p.startswith(".") for p in os.path.relpath(real, real_root).split(os.sep)):
        return None
    return real if os.path.isfile(real) else None


class Site:
    """What may be served: a URL path maps to a folder and a name the lists above allow.

    The export's names come from its manifest; they are read again when manifest.json changes (a
    re-export while the server runs), so the server never serves a file the current manifest does not
    name. Each request resolves its file again, so a symlink planted later is refused too.
    """

    def __init__(self, export_dir: str, samples_dir: str | None, sample_names: list[str], manifest) -> None:
        self.export_dir = export_dir
        self.samples_dir = samples_dir
        self.sample_names = set(sample_names) | ({"samples.json"} if samples_dir else set())
        self._manifest_key = self._stat_key()
        self.export_names = manifest_file_names(manifest)
        self.litert_names = set(LITERT_FILES)
        wasm = os.path.join(LITERT, *LITERT_WASM.split("/"))
        if os.path.isdir(wasm):
            self.litert_names |= {f"{LITERT_WASM}/{n}" for n in os.listdir(wasm)
                                  if n.endswith((".js", ".wasm")) and _bare(n)}

    def _stat_key(self):
        try:
            st = os.stat(os.path.join(self.export_dir, "manifest.json"))
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _export_names(self) -> set[str]:
        key = self._stat_key()
        if key != self._manifest_key:
            self._manifest_key = key
            try:
                self.export_names = manifest_file_names(
                    read_json(os.path.join(self.export_dir, "manifest.json"), "manifest"))
            except DemoError:
                self.export_names = {"manifest.json"}  # the page reports the problem itself
        return self.export_names

    def lookup(self, path: str) -> str | None:
        """The real file for a decoded URL path, or None (404)."""
        path = path.lstrip("/") or "index.html"
        top, _, rest = path.partition("/")
        if not rest and path in PAGE_FILES:
            return _inside(HERE, path)
        if path == "manifest.schema.json":
            return SCHEMA_FILE
        if top == "export" and rest in self._export_names():
            return _inside(self.export_dir, rest)
        if top == "samples" and rest in self.sample_names:
            return _inside(self.samples_dir, rest)
        if path.startswith("node_modules/@litertjs/"):
            rest = path[len("node_modules/@litertjs/"):]
            if rest in self.litert_names:
                return _inside(LITERT, rest)
        return None


class Handler(http.server.BaseHTTPRequestHandler):
    """GET and HEAD of the files a Site allows."""

    server_version = "hne-web-demo"

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _host_allowed(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            name, bracket, port = host.partition("]")
            name += bracket
            port = port[1:] if port.startswith(":") else (None if port else "")
        else:
            name, _, port = host.partition(":")
        return name in self.server.allowed_hosts and (port == "" or (port is not None and port.isdigit()))

    def _serve(self, body: bool) -> None:
        try:
            if not self._host_allowed():
                self.send_error(403, "this server answers requests for 127.0.0.1, localhost and [::1] only")
                return
            try:
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path, errors="strict")
            except (UnicodeDecodeError, ValueError):
                self.send_error(400, "bad percent-encoding in the path")
                return
            if "\x00" in path:
                self.send_error(400, "NUL byte in the path")
                return
            real = self.server.site.lookup(path)
            fd = None
            if real is not None:
                try:
                    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                except OSError:
                    fd = None
            if fd is None:
                self.send_error(404)
                return
            with os.fdopen(fd, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                self.send_response(200)
                self.send_header("Content-Type", TYPES.get(os.path.splitext(real)[1], "application/octet-stream"))
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if body:
                    while chunk := f.read(1 << 16):
                        self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        except Exception as e:  # one line, never a traceback
            sys.stderr.write(f"serve: error serving {self.path!r}: {type(e).__name__}: {e}\n")
            try:
                self.send_error(500)
            except OSError:
                pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        # Cross-origin isolation: the threaded WASM build needs SharedArrayBuffer, and
        # performance.now() gets finer (5 us instead of 100 us) for the step timings.
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def log_error(self, format: str, *args) -> None:
        if self.server.verbose:  # refused requests (403, 404, 400) are logged with --verbose only
            super().log_error(format, *args)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, (BrokenPipeError, ConnectionResetError)):
            sys.stderr.write(f"serve: error handling a request from {client_address[0]}: "
                             f"{type(error).__name__}: {error}\n")


def make_server(export_dir: str, samples_dir: str | None = None, port: int = 8000, host: str = "127.0.0.1",
                verbose: bool = False, validate: bool = True) -> Server:
    """The server for one export. ``samples_dir`` None: the page's own samples for the data set, if any.

    ``validate=False`` serves a manifest that export/manifest.py rejects (and the files it names): only
    for tests of the page's own checks, which must hold on any static host.
    """
    export_dir = os.path.abspath(export_dir)
    if validate:
        manifest = load_manifest(export_dir)
    else:
        try:
            manifest = read_json(os.path.join(export_dir, "manifest.json"), "manifest")
        except DemoError:
            manifest = None
    names = []
    if samples_dir is None and validate:
        samples_dir = default_samples(manifest)
    if samples_dir is not None:
        samples_dir = os.path.abspath(samples_dir)
        names = load_samples(samples_dir, manifest) if validate else []
        if not validate:
            try:
                listing = read_json(os.path.join(samples_dir, "samples.json"), "samples")
                names = [s["file"] for s in listing["samples"]]
            except (DemoError, KeyError, TypeError):
                names = []
    server = Server((host, port), Handler)
    server.site = Site(export_dir, samples_dir, names, manifest)
    server.verbose = verbose
    bound = server.server_address[0]
    server.allowed_hosts = set(LOCAL_HOSTS) | {f"[{bound}]" if ":" in bound else bound}
    return server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="web_demo/serve.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", default=os.path.join("runs", "hne_fashion_mnist_tflite"),
                        help="export folder (or its manifest.json)")
    parser.add_argument("--samples", default=None,
                        help="sample PNGs + samples.json, as `python3 -m export.samples --out=DIR` writes them "
                             "(default: web_demo/samples/<dataset>/ if the page ships them)")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    try:
        check_litert()
        server = make_server(resolve_export(args.export), args.samples, args.port, verbose=args.verbose)
    except (DemoError, OSError) as e:
        print(f"serve: error: {e}", file=sys.stderr)
        return 2
    site = server.site
    host, port = server.server_address[:2]
    samples = (f"{len(site.sample_names) - 1} sample images from {site.samples_dir}" if site.samples_dir else
               "no sample images for this data set (--samples=DIR adds some)")
    print(f"serving http://{host}:{port}/  (export {site.export_dir}, {len(site.export_names) - 1} files; "
          f"{samples}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
