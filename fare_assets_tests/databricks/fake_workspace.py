"""A local fake of the Databricks REST endpoints fare-assets uses, served over real HTTP.

The real databricks-sdk client talks to it (host=http://127.0.0.1:<port>). It keeps:
- Unity Catalog volumes as folders: /Volumes/<catalog>/<schema>/<volume>/... -> <root>/volumes/...
- workspace files (import, mkdirs, get-status) under <root>/workspace
- a few Unity Catalog objects and grants, for `fare-assets doctor`
- every request it received (without the Authorization header), for assertions.
Jobs runs and serving endpoints live in fake_jobs.py and fake_serving.py.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from fare_assets_tests.databricks.fake_jobs import FakeJobs
from fare_assets_tests.databricks.fake_serving import FakeServing

FAKE_TOKEN = "dapi-fake-test-token-0123456789"
FAKE_USER = "someone@example.com"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    body: object
    raw: bytes = field(repr=False, default=b"")


class FakeWorkspace:
    """Start with `with FakeWorkspace(tmp) as ws:`; `ws.host`, `ws.token`, `ws.requests`."""

    def __init__(self, root: Path, *, volumes=("main.ml_serving.fare_assets",), serverless=True,
                 privileges=("ALL_PRIVILEGES",), tables=("samples.nyctaxi.trips",),
                 principals: dict[str, tuple[str, ...]] | None = None, cluster=None):
        self.root = Path(root)
        self.token = FAKE_TOKEN
        self.requests: list[Recorded] = []
        self.volumes = set(volumes)
        self.catalogs = {v.split(".")[0] for v in volumes}
        self.schemas = {".".join(v.split(".")[:2]) for v in volumes}
        # Effective privileges by principal: the user's own, and e.g. a group's that the user is not in.
        self.principals = dict(principals or {FAKE_USER: tuple(privileges)})
        self.tables = set(tables)
        self.serverless = serverless
        for volume in self.volumes:
            self.local_path("/Volumes/" + volume.replace(".", "/")).mkdir(parents=True, exist_ok=True)
        self.jobs = FakeJobs(self, cluster)
        self.serving = FakeServing(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeWorkspace:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.jobs.cancel_all()
        self._server.shutdown()
        self._server.server_close()

    def client(self):
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=self.host, token=self.token)

    # Paths: the workspace's namespaces mapped into the temp dir.
    def local_path(self, remote: str) -> Path:
        if remote.startswith("/Volumes/"):
            parts = remote.removeprefix("/Volumes/").strip("/").split("/")
            if len(parts) < 3 or ".".join(parts[:3]) not in self.volumes:
                raise ApiError(404, "NOT_FOUND", f"volume of {remote} does not exist")
            return self.root / "volumes" / "/".join(parts)
        if remote.startswith("/Workspace/"):
            remote = remote.removeprefix("/Workspace")
        if remote.startswith(("/Users/", "/Shared/")):
            return self.root / "workspace" / remote.strip("/")
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{remote} is not a volume or workspace path")

    def requests_to(self, method: str, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    # Routes: (method, pattern) -> handler(match, query, body) -> (status, json or bytes, headers).
    def route(self, method: str, path: str, query: dict, body: bytes):
        for (verb, pattern), handler in self._routes().items():
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                return handler(match, query, body)
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")

    def _routes(self):
        return {
            ("GET", r"/api/2.0/preview/scim/v2/Me"): lambda m, q, b: (200, {"userName": FAKE_USER, "id": "1"}),
            ("PUT", r"/api/2.0/fs/files(/.+)"): self._upload,
            ("GET", r"/api/2.0/fs/files(/.+)"): self._download,
            ("HEAD", r"/api/2.0/fs/files(/.+)"): self._file_metadata,
            ("DELETE", r"/api/2.0/fs/files(/.+)"): self._delete_file,
            ("PUT", r"/api/2.0/fs/directories(/.+)"): self._mkdir,
            ("HEAD", r"/api/2.0/fs/directories(/.+)"): self._dir_metadata,
            ("GET", r"/api/2.0/fs/directories(/.+)"): self._list_dir,
            ("DELETE", r"/api/2.0/fs/directories(/.+)"): self._rmdir,
            ("POST", r"/api/2.0/workspace/mkdirs"): self._workspace_mkdirs,
            ("POST", r"/api/2.0/workspace/import"): self._workspace_import,
            ("GET", r"/api/2.0/workspace/get-status"): self._workspace_status,
            ("GET", r"/api/2.1/unity-catalog/catalogs/([^/]+)"): self._uc_get("catalog", self.catalogs),
            ("GET", r"/api/2.1/unity-catalog/schemas/([^/]+)"): self._uc_get("schema", self.schemas),
            ("GET", r"/api/2.1/unity-catalog/volumes/([^/]+)"): self._uc_get("volume", self.volumes),
            ("GET", r"/api/2.1/unity-catalog/tables/([^/]+)"): self._uc_get("table", self.tables),
            ("GET", r"/api/2.1/unity-catalog/effective-permissions/([^/]+)/([^/]+)"): self._permissions,
            **self.jobs.routes(),
            **self.serving.routes(),
        }

    def _upload(self, m, query, body):
        path = self.local_path(unquote(m.group(1)))
        if path.exists() and query.get("overwrite") == "false":
            raise ApiError(409, "ALREADY_EXISTS", f"{m.group(1)} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return 204, None

    def _existing_file(self, remote: str) -> Path:
        path = self.local_path(unquote(remote))
        if not path.is_file():
            raise ApiError(404, "NOT_FOUND", f"file {remote} does not exist")
        return path

    def _file_headers(self, path: Path) -> dict:
        return {"content-length": str(path.stat().st_size), "content-type": "application/octet-stream",
                "last-modified": formatdate(path.stat().st_mtime, usegmt=True)}

    def _download(self, m, query, body):
        path = self._existing_file(m.group(1))
        return 200, path.read_bytes(), self._file_headers(path)

    def _file_metadata(self, m, query, body):
        path = self._existing_file(m.group(1))
        return 200, None, self._file_headers(path)

    def _delete_file(self, m, query, body):
        self._existing_file(m.group(1)).unlink()
        return 200, {}

    def _mkdir(self, m, query, body):
        self.local_path(unquote(m.group(1))).mkdir(parents=True, exist_ok=True)
        return 200, {}

    def _existing_dir(self, remote: str) -> Path:
        path = self.local_path(unquote(remote))
        if not path.is_dir():
            raise ApiError(404, "NOT_FOUND", f"directory {remote} does not exist")
        return path

    def _dir_metadata(self, m, query, body):
        self._existing_dir(m.group(1))
        return 200, None

    def _list_dir(self, m, query, body):
        path, remote = self._existing_dir(m.group(1)), unquote(m.group(1)).rstrip("/")
        contents = [{"path": f"{remote}/{p.name}", "name": p.name, "is_directory": p.is_dir(),
                     **({} if p.is_dir() else {"file_size": p.stat().st_size})} for p in sorted(path.iterdir())]
        return 200, {"contents": contents}

    def _rmdir(self, m, query, body):
        path = self._existing_dir(m.group(1))
        if any(path.iterdir()):
            raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"{m.group(1)} is not empty")
        path.rmdir()
        return 200, {}

    def _workspace_mkdirs(self, m, query, body):
        self.local_path(json.loads(body)["path"]).mkdir(parents=True, exist_ok=True)
        return 200, {}

    def _workspace_import(self, m, query, body):
        request = json.loads(body)
        path = self.local_path(request["path"])
        if request.get("format") == "SOURCE" and request.get("language") == "PYTHON":
            path = path.with_suffix(".py")  # a notebook; we import plain files (format AUTO/RAW)
        if path.exists() and not request.get("overwrite"):
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"{request['path']} already exists")
        if not path.parent.is_dir():
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"parent folder of {request['path']} does not exist")
        path.write_bytes(base64.b64decode(request["content"]))
        return 200, {}

    def _workspace_status(self, m, query, body):
        path = self.local_path(query["path"])
        if not path.exists():
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({query['path']}) doesn't exist.")
        return 200, {"path": query["path"], "object_type": "DIRECTORY" if path.is_dir() else "FILE"}

    def _uc_get(self, kind: str, known: set[str]):
        def handler(m, query, body):
            name = unquote(m.group(1))
            if name not in known:
                raise ApiError(404, f"{kind.upper()}_DOES_NOT_EXIST", f"{kind.capitalize()} '{name}' does not exist.")
            return 200, {"name": name.split(".")[-1], "full_name": name}
        return handler

    def _permissions(self, m, query, body):
        """GET effective-permissions: every principal's, or only `principal`'s when the query names one."""
        wanted = query.get("principal")
        return 200, {"privilege_assignments": [
            {"principal": principal, "privileges": [{"privilege": p, "inherited_from_name": None} for p in privileges]}
            for principal, privileges in self.principals.items() if wanted in (None, principal)]}


def _handler_for(workspace: FakeWorkspace):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        def _serve(self):
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            workspace.requests.append(Recorded(self.command, unquote(url.path), query, _json_or_raw(body), body))
            try:
                if self.headers.get("Authorization") != f"Bearer {workspace.token}":
                    raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
                status, payload, *headers = workspace.route(self.command, url.path, query, body)
            except ApiError as error:
                status, payload, headers = error.status, {"error_code": error.code, "message": error.message}, []
            except Exception as error:  # noqa: BLE001 - a bug in the fake answers 500 instead of hanging the client
                status, payload, headers = 500, {"error_code": "INTERNAL_ERROR", "message": f"fake: {error!r}"}, []
            self._reply(status, payload, headers[0] if headers else {})

        def _reply(self, status: int, payload, headers: dict):
            data = payload if isinstance(payload, bytes) else b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            headers = {"content-type": "application/json", **headers}
            for key, value in headers.items():
                self.send_header(key, value)
            if "content-length" not in headers:
                self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _serve

    return Handler


def _json_or_raw(body: bytes):
    try:
        return json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None
