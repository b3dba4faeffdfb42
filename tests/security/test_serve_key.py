"""Review of issue 14: `facecast serve` keeps one admin key for the local tenant in the data folder (0600) and
reuses it at every start, instead of adding a new never-revoked admin key each time."""
from __future__ import annotations

import stat

from sqlalchemy import select

from services.gateway.db.models import ApiKey
from services.gateway.embedded import LOCAL_KEY_FILE, local_key


async def live_keys(harness) -> list[ApiKey]:
    async with harness.gw.reader() as session:
        return list((await session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None)))).all())


async def test_every_start_prints_the_same_key_and_adds_none(harness, tmp_path):
    token, created = await local_key(harness.gw, harness.settings)
    assert created
    path = tmp_path / LOCAL_KEY_FILE
    assert path.read_text().strip() == token and stat.S_IMODE(path.stat().st_mode) == 0o600
    for _ in range(3):  # three more starts
        assert await local_key(harness.gw, harness.settings) == (token, False)
    assert len(await live_keys(harness)) == 1
    tenant = await harness.anonymous().get("/v1/tenant", headers={"Authorization": f"Bearer {token}"})
    assert tenant.status_code == 200 and tenant.json()["name"] == "local"


async def test_a_lost_or_revoked_key_is_replaced_and_the_old_ones_revoked(harness, tmp_path):
    first, _ = await local_key(harness.gw, harness.settings)
    (tmp_path / LOCAL_KEY_FILE).unlink()  # the file lost: a new key, the printed-and-lost one revoked
    second, created = await local_key(harness.gw, harness.settings)
    assert created and second != first
    anonymous = harness.anonymous()
    assert (await anonymous.get("/v1/tenant", headers={"Authorization": f"Bearer {first}"})).status_code == 401
    assert [k.id for k in await live_keys(harness)] == ["key_" + second.split("_")[1]]
    # revoked through the API: the next start makes a new one rather than printing a dead key
    admin = {"Authorization": f"Bearer {second}"}
    key_id = "key_" + second.split("_")[1]
    assert (await anonymous.delete(f"/v1/api-keys/{key_id}", headers=admin)).status_code in (200, 204)
    third, created = await local_key(harness.gw, harness.settings)
    assert created and third not in (first, second)
    assert (tmp_path / LOCAL_KEY_FILE).read_text().strip() == third
    assert len(await live_keys(harness)) == 1
