//! The request lifecycle: retries, backoff and deadlines as a state machine.
