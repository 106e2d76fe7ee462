"""Request and response shapes of the directory's HTTP routes (pydantic; one declaration feeds
validation, serialisation and the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ivr.db.models import Operator, Pool


class OperatorOut(BaseModel):
    name: str
    endpoint: str
    pool: str | None
    static_contact: str | None
    state: str
    paused_reason: str

    @classmethod
    def of(cls, o: Operator) -> OperatorOut:
        return cls(name=o.name, endpoint=o.endpoint, pool=o.pool.name if o.pool else None,
                   static_contact=o.static_contact, state=o.state, paused_reason=o.paused_reason)


class OperatorCreated(OperatorOut):
    secret: str = Field(description="the SIP password, shown in this response only")

    @classmethod
    def of_new(cls, o: Operator) -> OperatorCreated:
        return cls(**OperatorOut.of(o).model_dump(), secret=o.secret)


class PoolOut(BaseModel):
    name: str
    queue: str
    strategy: str
    max_wait: int
    operators: list[str]

    @classmethod
    def of(cls, p: Pool) -> PoolOut:
        return cls(name=p.name, queue=p.queue, strategy=p.strategy, max_wait=p.max_wait,
                   operators=sorted(o.endpoint for o in p.operators))
