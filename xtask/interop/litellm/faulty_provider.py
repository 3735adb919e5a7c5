"""A custom LiteLLM provider whose stream fails in the middle.

It yields a few content chunks and then raises, so the proxy has already sent
`200` and some `data:` events: LiteLLM then writes `data: {"error": ...}` and
ends the body without `data: [DONE]`.
"""

import litellm
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk

PIECES = ["Partial ", "answer ", "before the failure"]


def _chunk(text):
    return GenericStreamingChunk(
        text=text,
        tool_use=None,
        is_finished=False,
        finish_reason="",
        usage=None,
        index=0,
    )


class MidStreamFailure(CustomLLM):
    def completion(self, *args, **kwargs):
        raise litellm.InternalServerError(
            message="the interop provider only fails mid-stream",
            llm_provider="interop-faults",
            model="mid-stream-failure",
        )

    async def acompletion(self, *args, **kwargs):
        return self.completion()

    def streaming(self, *args, **kwargs):
        for piece in PIECES:
            yield _chunk(piece)
        raise litellm.InternalServerError(
            message="the upstream connection broke mid-stream",
            llm_provider="interop-faults",
            model="mid-stream-failure",
        )

    async def astreaming(self, *args, **kwargs):
        for piece in PIECES:
            yield _chunk(piece)
        raise litellm.InternalServerError(
            message="the upstream connection broke mid-stream",
            llm_provider="interop-faults",
            model="mid-stream-failure",
        )


mid_stream_failure = MidStreamFailure()
