"""The store: where fact batches and artifacts live when steps run on more than one machine.

    store = Store.configured(home)            # $FOOTPRINT_STORE, else the local $FOOTPRINT_HOME
    url = store.put_file(local_path, "artifacts/clean_corpus/<id>.parquet")
    local = store.fetch(url, home.cache_dir)  # a local copy (the path itself for the local store)

`FOOTPRINT_STORE` unset: the store *is* `$FOOTPRINT_HOME` (`local` is True), the layout of one
machine: batches published into `facts/pending/` by a rename, artifacts under `artifacts/`, and a URL
is a plain path. Set to `s3://bucket/prefix` (or any URL `pyarrow.fs` understands: `gs://`,
`hdfs://`, `file:///shared/dir`), batches are spooled locally first and then uploaded manifest-last
(`warehouse.batches`), and artifacts are uploaded after they are written locally.

S3 settings come from the environment, as every AWS client reads them: `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY` (or the default chain: ~/.aws, an instance or pod role), `AWS_REGION`,
`AWS_ENDPOINT_URL` for an S3-compatible server (SeaweedFS, MinIO). The Dagster resource passes them
from `EnvVar`s. Credentials are never part of `url` and never printed: every error text passes
`warehouse.redact`.

pyarrow's filesystems rather than fsspec + s3fs: pyarrow is already the fact format's library, its
S3 client does multi-part uploads and retries (`AwsStandardS3RetryStrategy`), and it brings no
second HTTP stack into the step.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from warehouse.home import FootprintHome, make_private_dir
from warehouse.redact import redact, register_secret

ENV_STORE = "FOOTPRINT_STORE"
FACTS_PENDING = "facts/pending"
FACTS_LOADED = "facts/loaded"
FACTS_QUARANTINE = "facts/quarantine"
ARTIFACTS = "artifacts"
# An unreachable store must not hold a step for minutes: a few quick tries, then the batch stays in
# the local spool (it is uploaded by the next step or `footprint sync --upload`).
CONNECT_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 30.0
S3_ATTEMPTS = 3


class StoreError(RuntimeError):
    """The store could not be reached or written; the message says what and where, never a secret."""


@dataclass(frozen=True)
class S3Settings:
    """What an S3 client needs besides the URL. Secrets are kept out of repr."""

    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> S3Settings:
        e = os.environ if env is None else env
        return cls(
            access_key=e.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=e.get("AWS_SECRET_ACCESS_KEY") or None,
            region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or None,
            endpoint_url=e.get("AWS_ENDPOINT_URL_S3") or e.get("AWS_ENDPOINT_URL") or None,
        )


@dataclass(frozen=True)
class Store:
    """A filesystem and the root path of the store inside it."""

    url: str  # as configured, without credentials (shown in messages)
    fs: pafs.FileSystem = field(repr=False, compare=False)
    root: str  # the store's root inside `fs` (bucket/prefix for S3, an absolute path locally)
    local: bool  # True: the store is $FOOTPRINT_HOME itself (one machine)

    @classmethod
    def configured(cls, home: FootprintHome, url: str | None = None, s3: S3Settings | None = None) -> Store:
        """`url`, else `$FOOTPRINT_STORE`, else the local home."""
        chosen = url if url is not None else os.environ.get(ENV_STORE, "")
        if not chosen.strip():
            return cls.local_home(home)
        return cls.from_url(chosen.strip(), s3)

    @classmethod
    def local_home(cls, home: FootprintHome) -> Store:
        return cls(str(home.root), pafs.LocalFileSystem(), str(home.root), True)

    @classmethod
    def from_url(cls, url: str, s3: S3Settings | None = None) -> Store:
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise StoreError(
                f"{ENV_STORE} must not hold credentials (got a user/password in the URL of "
                f"{parts.scheme}://{parts.hostname}{parts.path}); put them in AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY"
            )
        if parts.scheme == "s3":
            if not parts.netloc:
                raise StoreError(f"{ENV_STORE}={url!r} names no bucket; expected s3://bucket/prefix")
            fs = _s3(s3 or S3Settings.from_env())
            root = posixpath.join(parts.netloc, parts.path.strip("/")).rstrip("/")
            return cls(url, fs, root, False)
        if parts.scheme in ("", "file") and not parts.netloc:
            path = Path(parts.path).expanduser().resolve()
            return cls(url, pafs.LocalFileSystem(), str(path), False)
        try:
            fs, root = pafs.FileSystem.from_uri(url)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as err:
            raise StoreError(
                f"{ENV_STORE}={url!r} is not a store URL this build understands ({err}); "
                "use s3://bucket/prefix, gs://bucket/prefix, hdfs://host/path or file:///path"
            ) from err
        return cls(url, fs, root.rstrip("/"), False)

    # -- paths and URLs ----------------------------------------------------------------------------
    def path(self, key: str) -> str:
        """The path of `key` (e.g. 'facts/pending/<id>/MANIFEST') inside `fs`."""
        return posixpath.join(self.root, key.strip("/"))

    def uri(self, key: str) -> str:
        """A URL for `key` that `fetch` resolves on any machine configured with this store: a plain
        absolute path for a local store, else `<store url>/<key>`."""
        if self.local:
            return self.path(key)
        return f"{self.url.rstrip('/')}/{key.strip('/')}"

    def key_of(self, uri: str) -> str | None:
        """The key of a URL this store made (None: not one of ours)."""
        base = self.root if self.local else self.url.rstrip("/")
        if uri == base:
            return ""
        if uri.startswith(base + "/"):
            return uri[len(base) + 1 :]
        return None

    # -- objects -----------------------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        with self._errors(f"write {key}"):
            self._mkdir_parent(key)
            with self.fs.open_output_stream(self.path(key)) as out:
                out.write(data)

    def get_bytes(self, key: str) -> bytes:
        with self._errors(f"read {key}"), self.fs.open_input_stream(self.path(key)) as src:
            return bytes(src.read())

    def exists(self, key: str) -> bool:
        with self._errors(f"look up {key}"):
            return self.fs.get_file_info(self.path(key)).type != pafs.FileType.NotFound

    def put_file(self, local: Path, key: str) -> str:
        """Upload one local file to `key`; returns its URL. For the local store, `local` must already
        be at that key (the caller wrote it there) and nothing is copied."""
        if self.local:
            return str(local)
        with self._errors(f"upload {local} to {key}"):
            self._mkdir_parent(key)
            pafs.copy_files(str(local), self.path(key), destination_filesystem=self.fs)
        return self.uri(key)

    def put_tree(self, local_dir: Path, key: str) -> str:
        """Upload every file under `local_dir` to `key/...`; returns the URL of `key`."""
        if self.local:
            return str(local_dir)
        for file in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            self.put_file(file, posixpath.join(key, file.relative_to(local_dir).as_posix()))
        return self.uri(key)

    def fetch(self, uri: str, cache_dir: Path) -> Path:
        """A local copy of the file or directory at `uri` (a path already local is returned as is).
        Remote copies go to `cache_dir/<key>` and are reused when present (artifacts are immutable:
        a key names one materialization's output)."""
        key = None if self.local else self.key_of(uri)
        if key is None:
            if "://" in uri and not uri.startswith("file://"):
                raise StoreError(
                    f"{uri!r} is not in the configured store ({self.url}); set {ENV_STORE} to the "
                    "store that produced it"
                )
            return Path(uri.removeprefix("file://"))
        dest = cache_dir / key
        if dest.exists():
            return dest
        with self._errors(f"download {key}"):
            info = self.fs.get_file_info(self.path(key))
            if info.type == pafs.FileType.NotFound:
                raise StoreError(f"{uri} does not exist in the store")
            make_private_dir(dest.parent)
            tmp = dest.with_name(f".tmp-{dest.name}.{os.getpid()}")
            if info.type == pafs.FileType.Directory:  # copy_files creates the subdirectories, not the root
                make_private_dir(tmp)
            pafs.copy_files(self.path(key), str(tmp), source_filesystem=self.fs)  # a file or a tree
            if dest.exists():  # another process fetched it meanwhile: same immutable content
                _remove(tmp)
            else:
                os.replace(tmp, dest)
        return dest

    def download_tree(self, key: str, dest: Path) -> Path:
        """Copy every file under `key` into the local directory `dest` (replaced)."""
        _remove(dest)
        make_private_dir(dest)
        with self._errors(f"download {key}"):
            pafs.copy_files(self.path(key), str(dest), source_filesystem=self.fs, use_threads=True)
        return dest

    def list_files(self, key: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every file under `key`, recursively ([] when `key` does not exist)."""
        with self._errors(f"list {key}"):
            selector = pafs.FileSelector(self.path(key), recursive=True, allow_not_found=True)
            infos = self.fs.get_file_info(selector)
        prefix = self.root + "/"
        for info in infos:
            if info.type == pafs.FileType.File:
                yield info.path[len(prefix) :] if info.path.startswith(prefix) else info.path, info.size or 0

    def delete_tree(self, key: str) -> None:
        with self._errors(f"delete {key}"):
            try:
                self.fs.delete_dir(self.path(key))
            except FileNotFoundError:
                return

    def copy_tree(self, src_key: str, dst_key: str) -> None:
        with self._errors(f"copy {src_key} to {dst_key}"):
            for key, _ in list(self.list_files(src_key)):
                rel = key[len(src_key.strip("/")) + 1 :]
                dst = posixpath.join(dst_key, rel)
                self._mkdir_parent(dst)
                self.fs.copy_file(self.path(key), self.path(dst))

    def _mkdir_parent(self, key: str) -> None:
        if self.local or not isinstance(self.fs, pafs.S3FileSystem):
            self.fs.create_dir(posixpath.dirname(self.path(key)), recursive=True)

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn a filesystem error into a StoreError naming the store and the action, secrets masked."""
        try:
            yield
        except (StoreError, FileNotFoundError):
            raise
        except (OSError, pa.ArrowException) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise StoreError(f"store {self.url}: could not {what}: {redact(first)}") from err


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _s3(settings: S3Settings) -> pafs.S3FileSystem:
    register_secret(settings.secret_key)
    register_secret(settings.access_key)
    kwargs: dict[str, object] = {
        "region": settings.region or "us-east-1",
        "connect_timeout": CONNECT_TIMEOUT_S,
        "request_timeout": REQUEST_TIMEOUT_S,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=S3_ATTEMPTS),
    }
    if settings.access_key and settings.secret_key:
        kwargs["access_key"] = settings.access_key
        kwargs["secret_key"] = settings.secret_key
    if settings.endpoint_url:
        ep = urlsplit(settings.endpoint_url)
        kwargs["endpoint_override"] = ep.netloc or ep.path
        kwargs["scheme"] = ep.scheme or "https"
    # S3-compatible servers (SeaweedFS) refuse the newer default checksums on multi-part uploads
    # unless the client only sends them when required (ENVIRONMENT.md; the AWS SDK reads this).
    os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED")
    return pafs.S3FileSystem(**kwargs)  # type: ignore[arg-type]
