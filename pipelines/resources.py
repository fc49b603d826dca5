"""Dagster resources shared by every stage."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr

from warehouse.home import FootprintHome
from warehouse.redact import register_secret
from warehouse.store import S3Settings, Store


class FootprintHomeResource(dg.ConfigurableResource):  # type: ignore[misc]
    """Where state lives. Empty `root` means `$FOOTPRINT_HOME` (read at run time), else `./var`.

    `store_url` is where artifacts (and fact batches) are published for other machines: a URL such as
    `s3://bucket/prefix` or `file:///shared/dir` (`warehouse.store`); empty means `$FOOTPRINT_STORE`
    (read at run time), and that unset too the local home (one machine). `defs()` sets it and the S3
    fields from the FOOTPRINT_STORE / AWS_* variables; with no S3 field set the AWS_* variables are
    read at run time (and the AWS default chain: ~/.aws, an instance role)."""

    root: str = ""
    heartbeat_s: float = 10.0
    store_url: str = ""
    aws_access_key_id: str = Field(default="", repr=False)
    aws_secret_access_key: str = Field(default="", repr=False)
    aws_region: str = ""
    aws_endpoint_url: str = ""
    _store: Store | None = PrivateAttr(default=None)

    def home(self) -> FootprintHome:
        return FootprintHome.resolve(self.root or None).ensure()

    def store(self) -> Store:
        """The configured store (one per resource instance)."""
        if self._store is None:
            register_secret(self.aws_secret_access_key)
            register_secret(self.aws_access_key_id)
            given = S3Settings(
                access_key=self.aws_access_key_id or None,
                secret_key=self.aws_secret_access_key or None,
                region=self.aws_region or None,
                endpoint_url=self.aws_endpoint_url or None,
            )
            s3 = given if given != S3Settings() else None  # none set: the AWS_* variables at run time
            self._store = Store.configured(self.home(), self.store_url or None, s3)
        return self._store
