//! The shared scenario table (nexllm-scenarios) run through the hyper client, one test per scenario.

#![allow(clippy::expect_used)] // the driver is test support: a runtime that cannot start fails the test

use nexllm_hyper::{Client, Proxy};
use nexllm_proto::types::ModelList;
use nexllm_proto::{ChatCompletionRequest, Config, Error};
use nexllm_scenarios::{Driver, Observed};

/// Runs each call on its own tokio runtime with a fresh client.
struct HyperDriver {
    runtime: tokio::runtime::Runtime,
}

impl HyperDriver {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        HyperDriver { runtime }
    }

    fn client(config: Config) -> Result<Client, Error> {
        // Tests must not depend on the proxy variables of whoever runs them.
        Client::builder()
            .config(config)
            .proxy(Proxy::none())
            .build()
    }
}

impl Driver for HyperDriver {
    fn name(&self) -> &'static str {
        "hyper"
    }

    fn chat(&self, config: Config, request: ChatCompletionRequest) -> Observed {
        self.runtime.block_on(async {
            let client = match Self::client(config) {
                Ok(client) => client,
                Err(error) => return Observed::failed(error),
            };
            match client.chat().create_with_response(&request).await {
                Ok(response) => Observed {
                    chunks: Vec::new(),
                    request_id: response.request_id().map(str::to_owned),
                    headers: Some(response.headers.clone()),
                    result: Ok(response.data),
                    accumulated: None,
                },
                Err(error) => Observed::failed(error),
            }
        })
    }

    fn stream(&self, config: Config, request: ChatCompletionRequest) -> Observed {
        self.runtime.block_on(async {
            let client = match Self::client(config) {
                Ok(client) => client,
                Err(error) => return Observed::failed(error),
            };
            let mut stream = match client.chat().create_stream(&request).await {
                Ok(stream) => stream,
                Err(error) => return Observed::failed(error),
            };
            let mut chunks = Vec::new();
            let mut failure = None;
            while let Some(item) = stream.next_chunk().await {
                match item {
                    Ok(chunk) => chunks.push(chunk),
                    Err(error) => failure = Some(error),
                }
            }
            let accumulated = stream.accumulated().clone();
            Observed {
                chunks,
                result: match failure {
                    Some(error) => Err(error),
                    None => Ok(accumulated.clone()),
                },
                accumulated: Some(accumulated),
                headers: stream.headers().cloned(),
                request_id: stream.request_id().map(str::to_owned),
            }
        })
    }

    fn models(&self, config: Config) -> Result<ModelList, Error> {
        self.runtime
            .block_on(async { Self::client(config)?.models().list().await })
    }
}

nexllm_scenarios::scenario_tests!(HyperDriver::new());
