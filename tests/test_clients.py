"""get_aws_client, prime_clients and clear_client_cache, over real HTTP to a moto server."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import botocore.exceptions
import pytest
from botocore.config import Config

from lambda_perf import (
    ConfigurationError,
    LambdaPerfError,
    MissingRegionError,
    clear_client_cache,
    get_aws_client,
    prime_clients,
)
from lambda_perf import clients as clients_module


def test_put_and_get_object_round_trip_through_the_cached_client(moto_server: str) -> None:
    s3 = get_aws_client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="round-trip")
    get_aws_client("s3", endpoint_url=moto_server).put_object(
        Bucket="round-trip", Key="k", Body=b"hello"
    )
    body = get_aws_client("s3", endpoint_url=moto_server).get_object(Bucket="round-trip", Key="k")
    assert body["Body"].read() == b"hello"
    assert get_aws_client("s3", endpoint_url=moto_server) is s3


def test_one_hundred_calls_reuse_a_few_connections(moto_server: str) -> None:
    s3 = get_aws_client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="reuse")
    for i in range(100):
        get_aws_client("s3", endpoint_url=moto_server).put_object(
            Bucket="reuse", Key=f"k{i}", Body=b"x"
        )
    pools = list(s3._endpoint.http_session._manager.pools._container.values())
    opened = sum(pool.num_connections for pool in pools)
    assert 1 <= opened <= 3, f"{opened} TCP connections for 100 sequential requests"


def test_default_region_gives_the_same_client_as_aws_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    implicit = get_aws_client("sqs")
    assert implicit.meta.region_name == "eu-west-1"
    assert get_aws_client("sqs", region_name="eu-west-1") is implicit
    assert get_aws_client("sqs", region_name="us-west-2") is not implicit


def test_aws_default_region_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert get_aws_client("sqs").meta.region_name == "ap-south-1"


def test_equal_configs_share_a_client_and_different_ones_do_not() -> None:
    first = get_aws_client("s3", config=Config(connect_timeout=3, retries={"max_attempts": 4}))
    second = get_aws_client("s3", config=Config(retries={"max_attempts": 4}, connect_timeout=3))
    other = get_aws_client("s3", config=Config(connect_timeout=4))
    assert first is second
    assert other is not first


def test_default_config_and_user_config_merge() -> None:
    plain = get_aws_client("dynamodb")
    assert plain.meta.config.max_pool_connections == 50
    assert plain.meta.config.retries == {"mode": "standard"}
    tuned = get_aws_client("dynamodb", config=Config(retries={"total_max_attempts": 2}))
    assert tuned.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert tuned.meta.config.max_pool_connections == 50
    legacy = get_aws_client("dynamodb", config=Config(retries={"mode": "legacy"}))
    assert legacy.meta.config.retries == {"mode": "legacy"}


def test_max_pool_connections_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_POOL_CONNECTIONS", "7")
    assert get_aws_client("s3").meta.config.max_pool_connections == 7


@pytest.mark.parametrize("raw", ["0", "-3", "many", "2.5"])
def test_invalid_max_pool_connections_names_the_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("MAX_POOL_CONNECTIONS", raw)
    with pytest.raises(ValueError, match=f"MAX_POOL_CONNECTIONS='{raw}'") as info:
        get_aws_client("s3")
    assert isinstance(info.value, ConfigurationError)
    assert isinstance(info.value, LambdaPerfError)


def test_unknown_service_passes_botocore_error_through() -> None:
    with pytest.raises(botocore.exceptions.UnknownServiceError):
        get_aws_client("no-such-service")


def test_missing_region_names_the_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(MissingRegionError, match="AWS_REGION") as info:
        get_aws_client("sqs")
    assert "'sqs'" in str(info.value)
    assert isinstance(info.value, LambdaPerfError)


def test_thirty_two_threads_get_one_and_the_same_new_client() -> None:
    barrier = threading.Barrier(32)
    results: list[object] = []

    def ask() -> None:
        barrier.wait()
        results.append(get_aws_client("lambda"))

    threads = [threading.Thread(target=ask) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 32
    assert len({id(client) for client in results}) == 1
    assert len(clients_module._clients) == 1


def test_clients_share_one_session_and_its_data_loader() -> None:
    s3, sqs = prime_clients("s3", "sqs")
    assert get_aws_client("s3") is s3
    assert get_aws_client("sqs") is sqs
    assert s3._loader is sqs._loader


def test_prime_clients_passes_common_arguments(moto_server: str) -> None:
    (ssm,) = prime_clients("ssm", endpoint_url=moto_server, region_name="us-west-2")
    assert ssm is get_aws_client("ssm", endpoint_url=moto_server, region_name="us-west-2")
    assert ssm.meta.endpoint_url == moto_server


def test_clear_client_cache_builds_new_clients_and_rereads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = get_aws_client("sqs")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert get_aws_client("sqs") is before  # the environment is read once
    clear_client_cache()
    after = get_aws_client("sqs")
    assert after is not before
    assert after.meta.region_name == "eu-central-1"


def test_forked_child_does_not_reuse_the_parents_clients() -> None:
    # A fresh interpreter: forking this multi-threaded test process is unsafe.
    code = textwrap.dedent(
        """
        import json, os
        os.environ.update(AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="x",
                          AWS_SECRET_ACCESS_KEY="x", AWS_EC2_METADATA_DISABLED="true")
        from lambda_perf import get_aws_client
        parent = get_aws_client("s3")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            child = get_aws_client("s3")
            os.write(write, json.dumps([child is parent, child is get_aws_client("s3")]).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        print(os.read(read, 100).decode())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [False, True]


def test_front_cache_stays_bounded_under_one_off_configs() -> None:
    first = get_aws_client("s3", config=Config(connect_timeout=5))
    for _ in range(clients_module.FRONT_CACHE_SIZE + 10):
        assert get_aws_client("s3", config=Config(connect_timeout=5)) is first
    assert clients_module._front.cache_info().currsize <= clients_module.FRONT_CACHE_SIZE
    assert len(clients_module._clients) == 1


@pytest.mark.parametrize("enabled_before", [True, False])
def test_cyclic_gc_is_restored_after_creation(enabled_before: bool) -> None:
    import gc

    if not enabled_before:
        gc.disable()
    try:
        get_aws_client("sqs")
        with pytest.raises(botocore.exceptions.UnknownServiceError):
            get_aws_client("no-such-service")
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable()


# --- issue 9: region precedence; the GC state of a child forked mid-creation -----------


@pytest.mark.parametrize("service", ["dynamodb", "sqs", "secretsmanager", "ssm", "lambda", "s3"])
def test_a_configs_region_wins_over_the_environment(service: str) -> None:
    from_config = get_aws_client(service, config=Config(region_name="eu-west-1"))
    assert from_config.meta.region_name == "eu-west-1"
    assert get_aws_client(service).meta.region_name == "us-east-1"  # AWS_REGION
    explicit = get_aws_client(
        service, region_name="ap-south-1", config=Config(region_name="eu-west-1")
    )
    assert explicit.meta.region_name == "ap-south-1"  # the argument wins over the Config
    assert get_aws_client(service, region_name="eu-west-1") is from_config  # one key


def test_a_child_forked_while_a_client_is_built_has_the_parents_gc_state() -> None:
    # A fresh interpreter: forking this multi-threaded test process is unsafe.
    code = textwrap.dedent(
        """
        import gc, json, os, threading
        from lambda_perf import clients
        inside, release = threading.Event(), threading.Event()
        def build():  # stands for a thread in the middle of creating a client
            with clients._gc_paused():
                inside.set()
                release.wait(30)
        worker = threading.Thread(target=build)
        worker.start()
        inside.wait(30)
        states = []
        for _ in range(5):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(write, json.dumps(gc.isenabled()).encode())
                os._exit(0)
            os.waitpid(pid, 0)
            states.append(json.loads(os.read(read, 10)))
        paused_in_parent = not gc.isenabled()
        release.set()
        worker.join(30)
        print(json.dumps({"children": states, "paused_in_parent": paused_in_parent,
                          "parent_after": gc.isenabled()}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "children": [True] * 5,
        "paused_in_parent": True,
        "parent_after": True,
    }
