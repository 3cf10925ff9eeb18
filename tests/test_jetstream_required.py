"""A notebook that needs JetStream (its set-up asks for it: `find_server(..., jetstream=True)`), against a server
without it, stops at once with a message that says what to do."""

import pytest

from helpers.embedded import EmbeddedServer
from tests.harness import NOTEBOOKS, OUTPUT, pm, stems

pytestmark = pytest.mark.notebook  # executes notebooks or JupyterLab: not part of `make check`


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory):
    config = tmp_path_factory.mktemp("plain") / "plain.conf"
    config.write_text("server_name: no-jetstream\n")  # no jetstream block
    with EmbeddedServer(config=config) as server:
        yield server


NEEDS_JETSTREAM = [s for s in stems() if "jetstream=True" in (NOTEBOOKS / f"{s}.ipynb").read_text()]


@pytest.mark.parametrize("stem", NEEDS_JETSTREAM)
def test_a_server_without_jetstream_is_refused_clearly(stem, plain_server):
    OUTPUT.mkdir(exist_ok=True)
    with pytest.raises(pm.PapermillExecutionError) as failure:
        pm.execute_notebook(
            NOTEBOOKS / f"{stem}.ipynb",
            OUTPUT / f"{stem}.no-jetstream.ipynb",
            cwd=NOTEBOOKS,
            parameters={"nats_url": plain_server.url, "monitor_url": plain_server.monitor_url},
            kernel_name="python3",
            execution_timeout=30,
            progress_bar=False,
        )
    assert failure.value.ename == "JetStreamDisabled"
    assert "runs without JetStream" in failure.value.evalue and "make up" in failure.value.evalue
