"""A log that survives a crash: every 200 sent before a SIGKILL of the service is a row afterwards."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import httpx
import pytest
from reliability.processes import free_port, logged_requests, start, wait_ready
from support.fake_engine import AUTH, customer_body

pytestmark = pytest.mark.slow

SERVICE = Path(__file__).with_name("fake_service.py")
CLIENTS = 8
OKS_BEFORE_KILL = 200


def test_every_200_sent_before_sigkill_is_in_the_log_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, str(SERVICE), str(port), database_url]
    service = start(command, tmp_path)
    answered: list[str] = []
    lock = threading.Lock()
    enough, stop = threading.Event(), threading.Event()

    def client(number: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            sent = 0
            while not stop.is_set():
                request_id = f"c{number}-{sent}"
                sent += 1
                try:
                    response = http.post(
                        "/v1/predict",
                        json=customer_body(f"C{number}", [60.0, 40.0]),
                        headers={**AUTH, "X-Request-ID": request_id},
                    )
                except httpx.TransportError:
                    return  # the service is gone
                if response.status_code == 200:
                    with lock:
                        answered.append(request_id)
                        if len(answered) >= OKS_BEFORE_KILL:
                            enough.set()

    try:
        wait_ready(base, service)
        clients = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
        for thread in clients:
            thread.start()
        assert enough.wait(timeout=120)
        os.kill(service.pid, signal.SIGKILL)  # under load: requests are in flight
        service.wait(timeout=30)
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
        with lock:
            sent_200 = list(answered)

        restarted = start(command, tmp_path)  # the service starts again on the same database
        try:
            wait_ready(base, restarted)
            rows = logged_requests(database_url)
        finally:
            restarted.terminate()
            restarted.wait(timeout=30)
    finally:
        stop.set()
        service.kill()
        service.wait(timeout=30)

    print(
        f"\ncrash test ({database_url.split(':')[0]}): {len(sent_200)} 200s sent, {sum(rows.values())} rows found"
    )
    assert service.returncode == -signal.SIGKILL
    assert len(sent_200) >= OKS_BEFORE_KILL
    assert [request for request in sent_200 if rows[request] != 1] == []
