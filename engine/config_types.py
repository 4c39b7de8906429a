"""The shape of a validated engine config (what ``engine.config.validate_config`` returns), as ``TypedDict``s.

Owns: one ``TypedDict`` per object of ``engine/config.schema.json`` that code reads, so a key read that the schema
does not have is a type error. Keys with a schema ``default`` are always present once validated (a section is
filled only when it is present); the rest may be missing, hence ``total=False`` below the top level.

Must not: validate, fill defaults or read files (``engine.config`` does); import anything heavier than ``typing``.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict, final


class WebhookConfig(TypedDict, total=False):
    enabled: bool
    listen: str
    path: str
    tls_cert_file: str | None
    tls_key_file: str | None
    token_file: str | None
    max_body_bytes: int
    max_event_bytes: int
    queue_size: int


class AuditFileConfig(TypedDict, total=False):
    enabled: bool
    path: str | None
    start_at: Literal["end", "beginning"]
    poll_interval: float
    max_line_bytes: int


class K8sAuditConfig(TypedDict, total=False):
    cluster_name: str | None
    webhook: WebhookConfig
    file: AuditFileConfig


class K8sMetadataConfig(TypedDict, total=False):
    enabled: bool
    node_name: str | None
    resync_seconds: float


class EbpfConfig(TypedDict, total=False):
    ring_buffer_mb: int


class LinuxAuditConfig(TypedDict, total=False):
    mode: Literal["unicast", "multicast"]
    backlog_limit: int
    receive_buffer_mb: int
    block_when_full: bool


@final
class SyscallConfig(TypedDict, total=False):
    """``sources.syscall``, read by ``engine.sources.syscall`` (the schema refuses any other key)."""

    enabled: bool
    backend: str
    path: str | None
    rate: float
    loop: bool
    start_after: float
    host_root: str
    container_state_roots: list[str]
    max_processes: int
    record: str | None
    k8s_metadata: K8sMetadataConfig
    ebpf: EbpfConfig
    audit: LinuxAuditConfig


class SourcesConfig(TypedDict, total=False):
    k8s_audit: K8sAuditConfig
    syscall: SyscallConfig


@final
class WithSources(TypedDict):
    """Any config that holds a ``sources`` section (an ``EngineConfig`` is one)."""

    sources: SourcesConfig


class StdoutConfig(TypedDict, total=False):
    enabled: bool
    format: Literal["json", "text"]


class FileOutputConfig(TypedDict, total=False):
    enabled: bool
    path: str | None
    format: Literal["json", "text"]


class HttpOutputConfig(TypedDict, total=False):
    enabled: bool
    url: str | None
    headers: dict[str, str]
    ca_file: str | None
    token_file: str | None
    timeout: float
    retries: int


class OutputsConfig(TypedDict, total=False):
    queue_size: int
    stdout: StdoutConfig
    file: FileOutputConfig
    http: HttpOutputConfig


class MetricsConfig(TypedDict):
    enabled: bool
    listen: str


class ReloadConfig(TypedDict):
    watch: bool
    interval: float


class FollowConfig(TypedDict, total=False):
    enabled: bool
    refs: list[str]
    interval: float
    dir: str
    auth_file: str
    plain_http: bool
    timeout: float


class AppendMatch(TypedDict, total=False):
    source: str
    tags: list[str]
    rule: str


class AppendOutputConfig(TypedDict, total=False):
    """One ``append_output`` entry; ``extra_fields`` items are a field name or ``{name: field}``."""

    match: AppendMatch
    extra_output: str
    extra_fields: list[str | dict[str, str]]


class EngineConfig(TypedDict):
    rules: list[str]
    rule_matching: Literal["first", "all"]
    priority: str
    log_level: Literal["debug", "info", "warning", "error"]
    log_format: Literal["text", "json"]
    hostname: str | None
    append_output: list[AppendOutputConfig]
    sources: SourcesConfig
    outputs: OutputsConfig
    metrics: MetricsConfig
    reload: ReloadConfig
    follow: NotRequired[FollowConfig]
    shutdown_timeout: float
    stall_seconds: float
