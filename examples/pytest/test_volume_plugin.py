"""A volume plugin driven by docker-py through `drydock serve` (fixtures:
conftest.py). Run: `DRYDOCK=target/release/drydock python3 -m pytest -q examples/pytest`."""

import os

import docker
import pytest

DATA = [docker.types.Mount("/data", "data", driver_config=docker.types.DriverConfig("dryvol"))]


def test_create_and_inspect_report_the_driver(client, plugin):
    client.volumes.create(name="data", driver="dryvol", labels={"team": "a"})
    volume = client.volumes.get("data")
    assert volume.attrs["Driver"] == "dryvol"
    assert volume.attrs["Labels"] == {"team": "a"}
    assert volume.attrs["Mountpoint"].startswith(str(plugin["state_dir"]))
    assert [v.name for v in client.volumes.list(filters={"driver": "dryvol"})] == ["data"]


def test_a_container_mounts_the_volume_and_unmounts_it(client):
    volume = client.volumes.create(name="data", driver="dryvol")
    container = client.containers.run("bb:latest", "sleep 60", mounts=DATA, detach=True)
    container.reload()
    assert [(m["Name"], m["Driver"]) for m in container.attrs["Mounts"]] == [("data", "dryvol")]
    volume.reload()  # Status is what the plugin's Get reports: one mount ID
    assert len(volume.attrs["Status"]["mounts"]) == 1
    container.stop()
    volume.reload()
    assert volume.attrs["Status"]["mounts"] == []
    container.remove()


def test_a_volume_in_use_is_kept_and_removal_deletes_it(client):
    client.volumes.create(name="data", driver="dryvol")
    client.containers.run("bb:latest", "true", mounts=DATA, remove=True)
    mountpoint = client.volumes.get("data").attrs["Mountpoint"]
    assert os.path.isdir(mountpoint)  # made by the plugin at the first Mount
    container = client.containers.create("bb:latest", "true", mounts=DATA)
    with pytest.raises(docker.errors.APIError, match="volume is in use"):
        client.volumes.get("data").remove()
    container.remove()
    client.volumes.get("data").remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get("data")
    assert not os.path.exists(mountpoint)


def test_mount_and_unmount_are_called_once_with_the_same_id(client, plugin_calls):
    client.volumes.create(name="data", driver="dryvol")
    assert client.containers.run("bb:latest", "true", mounts=DATA, remove=True) == b""
    calls = plugin_calls()
    mounts = [req for method, req in calls if method == "VolumeDriver.Mount"]
    unmounts = [req for method, req in calls if method == "VolumeDriver.Unmount"]
    assert len(mounts) == len(unmounts) == 1, calls
    assert mounts[0]["Name"] == unmounts[0]["Name"] == "data"
    assert mounts[0]["ID"] == unmounts[0]["ID"]
