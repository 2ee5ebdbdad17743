"""The task code as a wheel, named by a hash of its content, and the pins of its environment.

We write the wheel ourselves instead of `uv build`: the bytes are reproducible (fixed zip
timestamps), so an unchanged tree gives the same name and is never uploaded twice, and the
metadata declares no dependencies: the job environment pins them (databricks/dependencies.py), and the project's own
requirements (Dagster, dagster-databricks, pyspark) must never be installed on serverless.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the fare_assets package folder
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class TaskWheel:
    filename: str
    content: bytes
    digest: str


def package_files(root: Path = PACKAGE_DIR) -> list[tuple[str, bytes]]:
    """The package's files, and the top-level module beside it that registered models name
    (fare_meter.py says why it is not inside the package)."""
    import fare_meter

    files = [p for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc"
             and not any(part == "__pycache__" or part.startswith(".") for part in p.relative_to(root).parts)]
    return ([(f"fare_assets/{p.relative_to(root).as_posix()}", p.read_bytes()) for p in sorted(files)]
            + [("fare_meter.py", Path(fare_meter.__file__).read_bytes())])


def content_digest(files: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def build_task_wheel(root: Path = PACKAGE_DIR) -> TaskWheel:
    files = package_files(root)
    digest = content_digest(files)
    wheel_version = f"{_project_version()}+g{digest[:12]}"
    dist_info = f"fare_assets-{wheel_version}.dist-info"
    files += [
        (f"{dist_info}/METADATA", _metadata(wheel_version)),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: fare-assets\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = "".join(f"{name},sha256={_b64_sha256(data)},{len(data)}\n" for name, data in files)
    files.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return TaskWheel(f"fare_assets-{wheel_version}-py3-none-any.whl", buffer.getvalue(), digest)


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _project_version() -> str:
    return _installed("fare-assets") or "0.0.0"


def _metadata(wheel_version: str) -> bytes:
    return (
        "Metadata-Version: 2.1\nName: fare-assets\n"
        f"Version: {wheel_version}\nRequires-Python: >=3.11\n"
        "Summary: fare-assets task code for Databricks jobs (dependencies pinned by the job environment)\n"
    ).encode()


def _b64_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
