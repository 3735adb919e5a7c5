//! Scripted steps: answers and faults queued for the next chat completion requests.

use crate::fault::Fault;

/// A canned answer that replaces the model's own answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// Answer with this text (streamed word by word when the request streams).
    Text(String),
    /// Answer with these tool calls (finish reason `tool_calls`).
    ToolCalls(Vec<ScriptedToolCall>),
}

impl Answer {
    /// A text answer.
    pub fn text(text: impl Into<String>) -> Self {
        Answer::Text(text.into())
    }

    /// An answer with one tool call; `arguments` is the JSON text of the arguments.
    pub fn tool_call(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Answer::ToolCalls(vec![ScriptedToolCall {
            name: name.into(),
            arguments: arguments.into(),
        }])
    }
}

/// One tool call in a scripted [`Answer::ToolCalls`]; the mock assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedToolCall {
    /// The function name.
    pub name: String,
    /// The arguments as JSON text (sent as is, even when it is not valid JSON).
    pub arguments: String,
}

/// One queued step: an answer or a fault for the next chat completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScriptStep {
    /// Answer the next request with this.
    Answer(Answer),
    /// Inject this fault into the next request (a `FailFirst` stays queued until it has
    /// failed its attempts).
    Fault(Fault),
}

impl From<Answer> for ScriptStep {
    fn from(answer: Answer) -> Self {
        ScriptStep::Answer(answer)
    }
}

impl From<Fault> for ScriptStep {
    fn from(fault: Fault) -> Self {
        ScriptStep::Fault(fault)
    }
}

/// An ordered list of steps, preloaded with [`MockServerBuilder::script`](crate::MockServerBuilder::script).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub(crate) steps: Vec<ScriptStep>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a step (an [`Answer`] or a [`Fault`]).
    #[must_use]
    pub fn then(mut self, step: impl Into<ScriptStep>) -> Self {
        self.steps.push(step.into());
        self
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[ScriptStep] {
        &self.steps
    }
}

impl<S: Into<ScriptStep>> FromIterator<S> for Script {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self {
            steps: iter.into_iter().map(Into::into).collect(),
        }
    }
}
