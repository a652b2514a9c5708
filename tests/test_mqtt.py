"""The MQTT client factory: settings in, a paho client out; failures become jishi errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from jishi import mqtt
from jishi.mqtt_client import await_connack, connect, make_client

from support.servers import Mosquitto, free_port


def settings(url: str, **kwargs: object) -> mqtt.MqttSettings:
    return mqtt.MqttSettings(
        url=mqtt.BrokerUrl.parse(url), client_id="jishi-test-factory", **kwargs
    )  # type: ignore[arg-type]  # keyword overrides are mqtt.MqttSettings fields by name


def test_importing_the_settings_and_the_factory_does_not_import_paho() -> None:
    code = (
        "import sys, jishi.mqtt, jishi.mqtt_client;"
        " print(any(m.startswith('paho') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_tls_is_wanted_for_mqtts_or_a_ca_file(tmp_path: Path) -> None:
    plain, tls = mqtt.BrokerUrl.parse("mqtt://h"), mqtt.BrokerUrl.parse("mqtts://h")
    assert mqtt.TlsFiles.wanted(plain) is None
    assert mqtt.TlsFiles.wanted(tls) == mqtt.TlsFiles()
    assert mqtt.TlsFiles.wanted(plain, tmp_path / "ca.pem") == mqtt.TlsFiles(
        ca_file=tmp_path / "ca.pem"
    )
    assert settings("mqtts://h").describe() == "3.1.1, no TLS"  # the caller decides TLS
    assert settings("mqtts://h", tls=mqtt.TlsFiles(), protocol="5").describe() == "5, TLS"


@pytest.mark.parametrize(
    ("reason", "accepted", "hint"),
    [
        ("Success", True, None),
        (
            "Not authorized",
            False,
            "check mqtt.username, the password file / variable and the broker ACL",
        ),
        (
            "Bad user name or password",
            False,
            "check mqtt.username and the password file / variable",
        ),
        (
            "Unsupported protocol version",
            False,
            "set mqtt.protocol to the version the broker speaks",
        ),
        ("Quota exceeded", False, None),
    ],
)
def test_connack_codes_become_values_with_hints(
    reason: str, accepted: bool, hint: str | None
) -> None:
    connack = mqtt.connack_of(ReasonCode(PacketTypes.CONNACK, reason))
    assert connack == mqtt.Connack(accepted=accepted, reason=reason)
    assert connack.hint == hint
    assert connack.explain() == reason + (f"; {hint}" if hint else "")


def test_unreadable_tls_files_are_a_setup_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    with pytest.raises(mqtt.MqttSetupError, match=r"missing-ca\.pem"):
        make_client(settings("mqtts://127.0.0.1", tls=mqtt.TlsFiles(ca_file=missing)))


def test_nobody_listening_is_a_connect_error() -> None:
    target = settings(f"mqtt://127.0.0.1:{free_port()}")
    client = make_client(target)
    with pytest.raises(
        mqtt.MqttConnectError, match=r"cannot connect to mqtt://127\.0\.0\.1"
    ) as info:
        connect(client, target)
    assert info.value.detail


@pytest.mark.integration
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_a_broker_accepts_both_protocols_and_persistent_sessions(
    mosquitto_session: Mosquitto, protocol: str
) -> None:
    target = settings(
        mosquitto_session.url, protocol=protocol, clean_session=False, session_expiry_s=60
    )
    client = make_client(target)
    connect(client, target)
    try:
        connack = await_connack(client, 10.0)
    finally:
        client.disconnect()
    assert connack.accepted and connack.answered, connack
