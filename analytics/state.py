"""The checkpoint in Redis: sensor states, applied seqs, and the atomic commit of a batch.

Keys (under `Settings.key_prefix`, default `tracseq:analytics:state`):
  `<prefix>:sensor:<id>`        hash {v: version, s: SensorState JSON}
  `<prefix>:applied:<gateway>`  JSON [[lo, hi], ...] of applied seqs (see applied.py)
  `<prefix>:sensors:<gateway>`  set of the gateway's sensor ids (for staleness checks)
  `<prefix>:counts`             hash {processed: N} (events applied, over all instances)

A batch is committed by one Lua script: it checks every touched sensor's version and that
none of the batch's seqs was applied meanwhile (by another instance that claimed the same
entries), and only then writes the states, appends the output events, merges the applied
ranges and XACKs the entries. Effects and acknowledgement are one atomic step, so a crash
never leaves an acked event without its effects, nor effects without the ack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from analytics.applied import MAX_RANGES
from analytics.judge import SensorState

_COMMIT = """
local p = cjson.decode(ARGV[1])
local conflicts = {}
for _, s in ipairs(p.sensors) do
  local v = tonumber(redis.call('HGET', s[1], 'v') or '0')
  if v ~= s[2] then table.insert(conflicts, s[1]) end
end
local merged = {}
for _, g in ipairs(p.applied) do
  local raw = redis.call('GET', g[1])
  local ranges = {}
  if raw then ranges = cjson.decode(raw) end
  for _, run in ipairs(g[2]) do
    for _, r in ipairs(ranges) do
      if run[1] <= r[2] and run[2] >= r[1] then
        table.insert(conflicts, g[1])
        break
      end
    end
  end
  for _, run in ipairs(g[2]) do table.insert(ranges, run) end
  table.sort(ranges, function(a, b) return a[1] < b[1] end)
  local out = {}
  for _, r in ipairs(ranges) do
    local last = out[#out]
    if last and r[1] <= last[2] + 1 then
      if r[2] > last[2] then last[2] = r[2] end
    else
      table.insert(out, {r[1], r[2]})
    end
  end
  while #out > tonumber(p.max_ranges) do
    out[2] = {out[1][1], out[2][2]}
    table.remove(out, 1)
  end
  merged[g[1]] = out
end
if #conflicts > 0 then return conflicts end
for _, s in ipairs(p.sensors) do
  redis.call('HSET', s[1], 'v', s[2] + 1, 's', s[3])
end
for key, out in pairs(merged) do
  redis.call('SET', key, cjson.encode(out))
end
for _, m in ipairs(p.members) do redis.call('SADD', m[1], m[2]) end
for _, e in ipairs(p.outputs) do
  redis.call('XADD', p.output, 'MAXLEN', '~', p.maxlen, '*', unpack(e))
end
for _, e in ipairs(p.rejects) do
  redis.call('XADD', p.rejects_stream, 'MAXLEN', '~', p.maxlen, '*', unpack(e))
end
if #p.ack > 0 then
  for i = 1, #p.ack, 500 do
    redis.call('XACK', p.stream, p.group, unpack(p.ack, i, math.min(i + 499, #p.ack)))
  end
end
if p.processed > 0 then redis.call('HINCRBY', p.counts, 'processed', p.processed) end
return {}
"""


@dataclass(slots=True)
class Commit:
    """Everything one batch changes; applied atomically or not at all."""

    sensors: list[tuple[str, int, SensorState]] = field(default_factory=list)
    applied: dict[str, list[list[int]]] = field(default_factory=dict)  # gateway -> new runs
    members: list[tuple[str, str]] = field(default_factory=list)  # (gateway, sensor)
    outputs: list[dict[str, str]] = field(default_factory=list)
    rejects: list[dict[str, str]] = field(default_factory=list)
    ack: list[str] = field(default_factory=list)
    processed: int = 0


@dataclass(frozen=True, slots=True)
class Conflict:
    """The commit was refused: these sensors or gateways changed under us."""

    sensors: list[str]
    gateways: list[str]


class Store:
    """Sensor states and applied seqs in Redis, for one processor instance."""

    def __init__(
        self, redis: Redis, prefix: str, stream: str, group: str, output: str, maxlen: int
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.stream, self.group = stream, group
        self.output, self.maxlen = output, maxlen
        self.rejects_stream = output + ":rejects"
        self._script = redis.register_script(_COMMIT)

    def sensor_key(self, sensor: str) -> str:
        return f"{self.prefix}:sensor:{sensor}"

    def applied_key(self, gateway: str) -> str:
        return f"{self.prefix}:applied:{gateway}"

    def members_key(self, gateway: str) -> str:
        return f"{self.prefix}:sensors:{gateway}"

    async def load_sensors(self, sensors: list[str]) -> dict[str, tuple[SensorState, int]]:
        """Each sensor's state and version (a fresh state, version 0, when unknown)."""
        pipe = self.redis.pipeline(transaction=False)
        for sensor in sensors:
            pipe.hmget(self.sensor_key(sensor), "v", "s")
        out: dict[str, tuple[SensorState, int]] = {}
        for sensor, (version, blob) in zip(sensors, await pipe.execute(), strict=True):
            if blob is None:
                out[sensor] = (SensorState(sensor), int(version or 0))
            else:
                out[sensor] = (SensorState.from_dict(orjson.loads(blob)), int(version))
        return out

    async def load_applied(self, gateways: list[str]) -> dict[str, list[list[int]]]:
        values = await self.redis.mget([self.applied_key(g) for g in gateways]) if gateways else []
        return {
            g: (orjson.loads(raw) if raw else []) for g, raw in zip(gateways, values, strict=True)
        }

    async def gateway_sensors(self, gateway: str) -> set[str]:
        members = await self.redis.smembers(self.members_key(gateway))
        return {m.decode() if isinstance(m, bytes) else m for m in members}

    async def processed(self) -> int:
        return int(await self.redis.hget(f"{self.prefix}:counts", "processed") or 0)

    async def commit(self, commit: Commit) -> Conflict | None:
        """Apply the batch atomically; a Conflict when something changed under us."""
        payload = {
            "sensors": [
                [self.sensor_key(s), version, orjson.dumps(state.to_dict()).decode()]
                for s, version, state in commit.sensors
            ],
            "applied": [[self.applied_key(g), r] for g, r in commit.applied.items()],
            "members": [[self.members_key(g), s] for g, s in commit.members],
            "outputs": [_flat(f) for f in commit.outputs],
            "rejects": [_flat(f) for f in commit.rejects],
            "ack": commit.ack,
            "processed": commit.processed,
            "max_ranges": MAX_RANGES,
            "stream": self.stream,
            "group": self.group,
            "output": self.output,
            "rejects_stream": self.rejects_stream,
            "maxlen": self.maxlen,
            "counts": f"{self.prefix}:counts",
        }
        result = await self._script(args=[orjson.dumps(payload)])
        if not result:
            return None
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in result]
        sensor_prefix, applied_prefix = self.sensor_key(""), self.applied_key("")
        return Conflict(
            sensors=[k[len(sensor_prefix) :] for k in keys if k.startswith(sensor_prefix)],
            gateways=[k[len(applied_prefix) :] for k in keys if k.startswith(applied_prefix)],
        )


def _flat(fields: dict[str, str]) -> list[Any]:
    out: list[Any] = []
    for key, value in fields.items():
        out.extend((key, value))
    return out
