"""`convtrack attribution models|configure-models|reporting-identity`: show or change a
property's attribution settings (or the deployment default's) in the running service."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from typing import Any

import grpc

from common.channels import operator_tls
from common.settings import SettingsError, process_env
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from convtrack.common.v1 import common_pb2
from services.attribution.models import UnknownModelError, named_model
from services.attribution.rules import NAMED_RULES
from services.attribution.servicer import model_config
from services.commands.credentials import client_channel, sent_api_key

ALL_PROPERTIES = "*"
CALL_TIMEOUT = 30.0
JOB_POLL_SECONDS = 0.5
SOURCES = {
    "SETTING_SOURCE_ENVIRONMENT": "the environment (ATTRIBUTION_*), nobody chose",
    "SETTING_SOURCE_DEFAULT": "the deployment default (--all-properties)",
    "SETTING_SOURCE_PROPERTY": "this property's own choice",
}


def _scope(args: argparse.Namespace) -> str:
    return ALL_PROPERTIES if args.all_properties else str(args.property_id)


def _stub(args: argparse.Namespace, command: str) -> Any | None:
    """A stub sending the command's API key over the operators' TLS when configured; None
    (after saying why) when the TLS directory or the key file cannot be read."""
    env = process_env()
    address = args.addr or env.get("ATTRIBUTION_ADDR", "127.0.0.1:50053")
    try:
        channel = client_channel(
            address, sent_api_key(args.api_key, env, address), operator_tls(args.tls_dir, env)
        )
    except SettingsError as error:
        print(f"convtrack attribution {command}: {error}", file=sys.stderr)
        return None
    return attribution_pb2_grpc.AttributionServiceStub(channel)


def _failed(command: str, error: grpc.RpcError) -> int:
    print(
        f"convtrack attribution {command}: {error.code().name}: {error.details()}", file=sys.stderr
    )
    return 1


def show_models(args: argparse.Namespace) -> int:
    """Prints the models, lookback windows and reporting identity that apply to a property
    (or the deployment default), and where each comes from; 1 when the call fails."""
    scope = _scope(args)
    stub = _stub(args, "models")
    if stub is None:
        return 2
    try:
        found = stub.ListModels(
            attribution_pb2.ListModelsRequest(property_id=scope), timeout=CALL_TIMEOUT
        )
    except grpc.RpcError as error:
        return _failed("models", error)
    name = "the deployment default" if scope == ALL_PROPERTIES else f"property {scope!r}"
    source = attribution_pb2.SettingSource.Name
    print(f"Attribution settings of {name}:")
    print(f"  models ({SOURCES[source(found.models_source)]}):")
    for model in found.models:
        print(f"    {model.name}  ({attribution_pb2.ModelKind.Name(model.kind)})")
    identity = common_pb2.ReportingIdentity.Name(found.reporting_identity)
    print(
        f"  reporting identity: {identity.removeprefix('REPORTING_IDENTITY_').lower()} "
        f"({SOURCES[source(found.reporting_identity_source)]})"
    )
    windows = found.lookbacks
    print(
        f"  lookback windows ({SOURCES[source(found.lookbacks_source)]}): "
        + ", ".join(
            f"{label} {_days(w.clicks)} click / {_days(w.views)} view days"
            for label, w in [
                ("default", windows.default_window),
                *sorted(windows.by_conversion.items()),
            ]
        )
    )
    return 0


def _days(span: Any) -> str:
    return f"{span.ToTimedelta().total_seconds() / 86400:g}"


def configure_models(args: argparse.Namespace) -> int:
    """Configures a property's models (or the deployment default's) from model names;
    prints the re-attribution job and, with --wait, follows it. 2 on bad arguments, 1 when
    a call fails or the job fails."""
    command = "configure-models"
    names = [n.strip() for n in (args.models or "").split(",") if n.strip()]
    if args.follow_default == bool(names):
        print(
            f"convtrack attribution {command}: give --models NAME,... or --follow-default",
            file=sys.stderr,
        )
        return 2
    try:
        configs = [model_config(named_model(name)) for name in names]
    except UnknownModelError as error:
        print(f"convtrack attribution {command}: {error} (known: {KNOWN_MODELS})", file=sys.stderr)
        return 2
    request = attribution_pb2.ConfigureModelsRequest(
        property_id=_scope(args), models=configs, follow_default=args.follow_default
    )
    if args.click_lookback_days is not None:
        window = request.lookbacks.default_window
        window.clicks.FromTimedelta(timedelta(days=args.click_lookback_days))
        window.views.FromTimedelta(timedelta(days=args.view_lookback_days))
    stub = _stub(args, command)
    if stub is None:
        return 2
    try:
        job_id = stub.ConfigureModels(request, timeout=CALL_TIMEOUT).job_id
    except grpc.RpcError as error:
        return _failed(command, error)
    return _report_job(command, stub, job_id, args.wait)


def set_reporting_identity(args: argparse.Namespace) -> int:
    """Chooses a property's reporting identity (or the deployment default's); prints the
    re-attribution job and, with --wait, follows it."""
    command = "reporting-identity"
    chosen = getattr(common_pb2, f"REPORTING_IDENTITY_{args.identity.upper()}")
    stub = _stub(args, command)
    if stub is None:
        return 2
    try:
        job_id = stub.SetReportingIdentity(
            attribution_pb2.SetReportingIdentityRequest(
                property_id=_scope(args), reporting_identity=chosen
            ),
            timeout=CALL_TIMEOUT,
        ).job_id
    except grpc.RpcError as error:
        return _failed(command, error)
    return _report_job(command, stub, job_id, args.wait)


def _report_job(command: str, stub: Any, job_id: str, wait: bool) -> int:
    """Says the re-attribution job started and, with `wait`, shows its progress (conversions
    looked at of the total) until it ends."""
    print(f"Stored. Re-attribution job {job_id} started.")
    if not wait:
        return 0
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("re-attributing"), BarColumn(), MofNCompleteColumn(), transient=True
    ) as progress:
        task = progress.add_task("re-attributing", total=None)
        while True:
            try:
                job = stub.GetJob(
                    attribution_pb2.GetJobRequest(job_id=job_id), timeout=CALL_TIMEOUT
                )
            except grpc.RpcError as error:
                return _failed(command, error)
            progress.update(task, completed=job.done, total=job.total or None)
            if job.state in (attribution_pb2.JOB_STATE_COMPLETED, attribution_pb2.JOB_STATE_FAILED):
                break
            time.sleep(JOB_POLL_SECONDS)
    if job.state == attribution_pb2.JOB_STATE_FAILED:
        print(f"convtrack attribution {command}: job failed: {job.error}", file=sys.stderr)
        return 1
    print(f"Re-attributed: {job.done:,} of {job.total:,} conversions looked at.")
    return 0


KNOWN_MODELS = ", ".join([*NAMED_RULES, "markov", "markov_2", "markov_3", "shapley"])
