//! The shared scenario table of `nexllm-scenarios`, run through the blocking
//! client: the same scenarios the async client runs, so the two cannot drift.

use nexllm_blocking::{ChatCompletionRequest, Client, Config, Error, ModelList};
use nexllm_scenarios::{Driver, Observed};

/// Makes each call with a fresh blocking client.
struct Blocking;

impl Driver for Blocking {
    fn name(&self) -> &'static str {
        "nexllm-blocking"
    }

    fn chat(&self, config: Config, request: ChatCompletionRequest) -> Observed {
        match Client::new(config).chat().create_with_response(&request) {
            Ok(response) => Observed {
                request_id: response.request_id().map(str::to_owned),
                chunks: Vec::new(),
                accumulated: None,
                headers: Some(response.headers.clone()),
                result: Ok(response.data),
            },
            Err(error) => Observed::failed(error),
        }
    }

    fn stream(&self, config: Config, request: ChatCompletionRequest) -> Observed {
        let mut stream = match Client::new(config).chat().create_stream(&request) {
            Ok(stream) => stream,
            Err(error) => return Observed::failed(error),
        };
        let mut chunks = Vec::new();
        let mut failure = None;
        for item in &mut stream {
            match item {
                Ok(chunk) => chunks.push(chunk),
                Err(error) => failure = Some(error),
            }
        }
        let accumulated = stream.accumulated().clone();
        Observed {
            headers: stream.headers().cloned(),
            request_id: stream.request_id().map(str::to_owned),
            result: match failure {
                Some(error) => Err(error),
                None => Ok(accumulated.clone()),
            },
            accumulated: Some(accumulated),
            chunks,
        }
    }

    fn models(&self, config: Config) -> Result<ModelList, Error> {
        Client::new(config).models().list()
    }
}

nexllm_scenarios::scenario_tests!(Blocking);
