//! Chat stream decoding (`ChatStreamDecoder`) and accumulation (`StreamAccumulator`).
